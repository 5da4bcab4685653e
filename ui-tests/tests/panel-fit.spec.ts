/**
 * The panel in a laptop's window: 1400×900 and 1366×768, three kernels (one busy), every
 * section open. Sections share the height so that each shows its first lines, the
 * Kernels section its three rows, and nothing is cut: no header or notebook name
 * shrunk to a letter, no meter drawn over another.
 */
import { expect, test } from '@jupyterlab/galata';
import type { IJupyterLabPageFixture } from '@jupyterlab/galata';
import type { Locator } from '@playwright/test';

import { hideNotifications, notebook, PANEL, runNotebook } from './helpers';

/** What is cut or hidden in the panel, in words; empty when nothing is. */
async function clipped(panel: Locator): Promise<string[]> {
  return panel.evaluate(node => {
    const found: string[] = [];
    const box = (element: Element) => element.getBoundingClientRect();
    const edge = box(node).right + 1;
    for (const element of node.querySelectorAll<HTMLElement>(
      '.jp-Usage-section *'
    )) {
      const rect = box(element);
      if (rect.width > 0 && rect.right > edge) {
        found.push(`${element.className || element.tagName} spills`);
      }
    }
    // Column headers are read whole, or abbreviated with the full name on hover.
    for (const header of node.querySelectorAll<HTMLElement>(
      '.jp-Usage-kernels thead .jp-Usage-sortLabel'
    )) {
      const button = header.closest('button');
      if (button && button.scrollWidth > button.clientWidth + 1) {
        found.push(`header "${header.textContent}" is cut`);
      }
      if (!button?.title) {
        found.push(`header "${header.textContent}" has no full name`);
      }
    }
    // A notebook name keeps room to be read beside its busy badge, not under it.
    for (const row of node.querySelectorAll<HTMLElement>(
      '.jp-Usage-kernels tbody tr'
    )) {
      const label = row.querySelector('.jp-Usage-kernelLabel');
      const badge = row.querySelector('.jp-Usage-busy');
      const start = row.querySelector('.jp-Usage-kernelLabelStart');
      const cut = start && start.scrollWidth > start.clientWidth + 1;
      if (label && cut && box(label).width < 60) {
        found.push(`name "${label.textContent}" is ${box(label).width} px`);
      }
      if (
        label &&
        badge &&
        box(badge).left < box(label).right - 1 &&
        box(badge).right > box(label).left + 1
      ) {
        found.push(`the badge lies over "${label.textContent}"`);
      }
      // Cut in the middle: the end of the name stays whole.
      const end = row.querySelector('.jp-Usage-kernelLabelEnd');
      if (
        label &&
        (!end ||
          end.scrollWidth > end.clientWidth + 1 ||
          box(end).right > box(label).right + 1)
      ) {
        found.push(`name "${label.textContent}" cut at its end`);
      }
    }
    // Each section shows its first lines; Kernels all three rows.
    for (const section of node.querySelectorAll<HTMLElement>(
      '.jp-Usage-section'
    )) {
      const shown = box(section);
      const name = section.dataset.section;
      const first =
        name === 'kernels'
          ? section.querySelectorAll('tbody tr')[2]
          : name === 'history'
            ? section.querySelector('tbody tr, li, .jp-Usage-state')
            : name === 'now'
              ? section.querySelector('.jp-Usage-meter .jp-Usage-bar')
              : section.querySelector('[data-key="cost-per-hour"]');
      if (!first) {
        found.push(`${name} has nothing to show`);
      } else if (box(first).bottom > shown.bottom + 1) {
        found.push(`${name}: its first lines are cut`);
      }
    }
    // No meter is drawn over the next one.
    const meters = [...node.querySelectorAll('.jp-Usage-meter')];
    for (let i = 1; i < meters.length; i++) {
      if (box(meters[i]).top < box(meters[i - 1]).bottom - 1) {
        found.push(
          `${meters[i].getAttribute('data-key')} lies over ${meters[i - 1].getAttribute('data-key')}`
        );
      }
    }
    return found;
  });
}

async function busyNotebook(
  page: IJupyterLabPageFixture,
  tmpPath: string,
  name: string
): Promise<void> {
  await page.contents.uploadContent(
    notebook('import time\nfor _ in range(900):\n    time.sleep(1)'),
    'text',
    `${tmpPath}/${name}`
  );
  await page.notebook.openByPath(`${tmpPath}/${name}`);
  await page.notebook.activate(name);
  // Not `notebook.run()`: it would wait for the cell to end.
  await page.notebook.selectCells(0);
  await page.keyboard.press('Control+Enter');
}

for (const [width, height] of [
  [1400, 900],
  [1366, 768]
]) {
  test.describe(`The panel at ${width}×${height}`, () => {
    test.use({ viewport: { width, height } });

    test('shows every open section, three kernels and nothing cut', async ({
      page,
      tmpPath
    }) => {
      await runNotebook(page, tmpPath, 'analysis.ipynb', 64);
      await runNotebook(page, tmpPath, 'Untitled.ipynb', 16);
      await busyNotebook(page, tmpPath, 'training-run.ipynb');
      await page.sidebar.openTab('jupyter-usage-panel');
      const panel = page.locator(PANEL);
      await expect(panel.locator('.jp-Usage-kernels tbody tr')).toHaveCount(3);
      await expect(panel.locator('.jp-Usage-busy')).toHaveCount(1);
      await expect(panel.locator('[data-key="network"]')).toBeVisible();
      await expect(panel.locator('.jp-Usage-sparkScale').first()).toBeVisible();
      await hideNotifications(page);
      // The sections settle on their sizes once every figure has come.
      try {
        await expect
          .poll(() => clipped(panel), { timeout: 15_000 })
          .toEqual([]);
      } finally {
        await page.screenshot({
          path: `test-results/usage-panel-${width}x${height}.png`
        });
      }
      await page.notebook.close();
    });
  });
}
