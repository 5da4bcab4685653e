import { expect, galata, test } from '@jupyterlab/galata';

import {
  hideNotifications,
  notebook,
  openPanel,
  PANEL,
  runNotebook
} from './helpers';

test.describe('Usage panel', () => {
  // Room for the panel's four sections in the screenshots.
  test.use({ viewport: { width: 1280, height: 960 } });

  test('shows live figures in its four sections', async ({ page }) => {
    const panel = await openPanel(page);
    for (const title of ['Now', 'Kernels', 'Session', 'History']) {
      await expect(
        panel.locator('.jp-AccordionPanel-title', { hasText: title })
      ).toBeVisible();
    }
    await expect(panel.locator('[data-key="cpu"]')).toContainText('cores');
    await expect(panel.locator('[data-key="memory"]')).toContainText(/[KMG]iB/);
    await expect(panel.getByRole('meter').first()).toBeVisible();
    // The charts come with the first /history answer.
    await expect(
      panel.getByRole('img', { name: /CPU over the last \d+ minutes/ })
    ).toBeVisible();
    await expect(panel.locator('[data-key="cost-total"]')).toContainText('$');
    await expect(panel.locator('[data-key="cost-per-hour"]')).toContainText(
      'per hour'
    );
    await expect(
      panel.getByRole('link', { name: 'Download all sessions as CSV' })
    ).toHaveAttribute('href', /api\/usage\/v1\/sessions\.csv$/);
    await page.screenshot({ path: 'test-results/usage-panel-light.png' });
  });

  test('has a status bar item that opens the panel', async ({ page }) => {
    const item = page.locator('#jp-main-statusbar .jp-Usage-status');
    await expect(item).toContainText(/^CPU .+ · Mem .+B · .*\$/);
    await item.click();
    await expect(page.locator(PANEL)).toBeVisible();
  });

  test('lists kernels by notebook, sorts them and opens one', async ({
    page,
    tmpPath
  }) => {
    // Written with their kernelspec, so opening them asks for no kernel.
    await page.contents.uploadContent(
      notebook('y = 1'),
      'text',
      `${tmpPath}/a-small.ipynb`
    );
    await page.contents.uploadContent(
      notebook('x = b"\\x01" * (256 * 1024**2)'),
      'text',
      `${tmpPath}/z-big.ipynb`
    );
    for (const name of ['a-small.ipynb', 'z-big.ipynb']) {
      await page.notebook.openByPath(`${tmpPath}/${name}`);
      await page.notebook.activate(name);
      await page.notebook.run();
    }

    const panel = await openPanel(page);
    const table = panel.locator('.jp-Usage-kernels');
    const names = table.locator('tbody th[scope="row"]');
    const big = table.locator('tbody tr', { hasText: 'z-big.ipynb' });
    await expect(big).toBeVisible();
    await expect(big.locator('td').nth(1)).toContainText(
      /^(2[5-9]\d|[3-9]\d\d)\.\d MiB$|GiB$/
    );
    // Largest memory first, then by name at a click, then reversed.
    await expect(names.first()).toContainText('z-big.ipynb');
    const memory = table.getByRole('columnheader', { name: /Memory/ });
    await expect(memory).toHaveAttribute('aria-sort', 'descending');
    await table.getByRole('button', { name: /Notebook/ }).click();
    await expect(names.first()).toContainText('a-small.ipynb');
    await expect(
      table.getByRole('columnheader', { name: /Notebook/ })
    ).toHaveAttribute('aria-sort', 'ascending');
    await table.getByRole('button', { name: /Notebook/ }).click();
    await expect(names.first()).toContainText('z-big.ipynb');
    await page.screenshot({ path: 'test-results/usage-kernels.png' });

    // Keyboard: focus the row of the small notebook and press Enter.
    await page.activity.activateTab('Launcher');
    const small = table.locator('tbody tr', { hasText: 'a-small.ipynb' });
    await small.focus();
    await page.keyboard.press('Enter');
    await expect
      .poll(() => page.activity.isTabActive('a-small.ipynb'))
      .toBe(true);
  });

  test('follows the dark theme', async ({ page }) => {
    await page.theme.setDarkTheme();
    const panel = await openPanel(page);
    await expect(panel.locator('[data-key="memory"]')).toContainText(/[KMG]iB/);
    await expect(
      panel.getByRole('img', { name: /CPU over the last/ })
    ).toBeVisible();
    const background = await panel.evaluate(
      node => getComputedStyle(node).backgroundColor
    );
    // The dark theme's --jp-layout-color1 is dark: every channel well below half.
    const channels = (background.match(/\d+/g) ?? []).slice(0, 3).map(Number);
    expect(Math.max(...channels)).toBeLessThan(100);
    await page.screenshot({ path: 'test-results/usage-panel-dark.png' });
  });
});

test.describe('Usage settings', () => {
  test.use({
    mockSettings: {
      ...galata.DEFAULT_SETTINGS,
      'jupyter-usage:panel': {
        sections: { now: true, kernels: true, session: true, history: false },
        statusBar: false
      }
    }
  });

  test('leave out the sections and the status bar item turned off', async ({
    page
  }) => {
    const panel = await openPanel(page);
    await expect(panel.locator('[data-key="cpu"]')).toContainText('cores');
    const titles = panel.locator('.jp-AccordionPanel-title');
    await expect(titles).toHaveText([/Now/, /Kernels/, /Session/]);
    await expect(
      page.locator('#jp-main-statusbar .jp-Usage-status')
    ).toBeHidden();
  });
});

test.describe('Usage panel widths', () => {
  test.use({ viewport: { width: 1280, height: 1000 } });

  test('fits at 250, 320 and 400 px: nothing spills, one line per kernel', async ({
    page,
    tmpPath
  }) => {
    const long = 'a-notebook-with-a-rather-long-name-for-analysis.ipynb';
    await runNotebook(page, tmpPath, long, 32);
    await page.sidebar.openTab('jupyter-usage-panel');
    const panel = page.locator(PANEL);
    await expect(panel.locator('.jp-Usage-kernels tbody tr')).toHaveCount(1);
    await expect(panel.locator('.jp-Usage-sparkScale').first()).toBeVisible();

    for (const width of [250, 320, 400]) {
      await page.sidebar.setWidth(width, 'right');
      await expect
        .poll(async () => (await panel.boundingBox())!.width)
        .toBeGreaterThan(width - 12);
      await expect
        .poll(async () => (await panel.boundingBox())!.width)
        .toBeLessThan(width + 12);
      const problems = await panel.evaluate(node => {
        const edge = node.getBoundingClientRect().right + 1;
        const found: string[] = [];
        for (const element of node.querySelectorAll<HTMLElement>(
          '.jp-Usage-section *'
        )) {
          const rect = element.getBoundingClientRect();
          if (rect.width > 0 && rect.right > edge) {
            found.push(`${element.className || element.tagName} spills`);
          }
        }
        for (const section of node.querySelectorAll<HTMLElement>(
          '.jp-Usage-section'
        )) {
          if (section.scrollWidth > section.clientWidth + 1) {
            found.push(`${section.dataset.section} scrolls sideways`);
          }
        }
        for (const row of node.querySelectorAll<HTMLElement>(
          '.jp-Usage-kernels tr'
        )) {
          if (row.getBoundingClientRect().height > 32) {
            found.push('a kernel row takes two lines');
          }
        }
        for (const header of node.querySelectorAll<HTMLElement>(
          '.jp-Usage-meterHeader'
        )) {
          if (header.getBoundingClientRect().height > 24) {
            found.push(`${header.textContent} wraps`);
          }
        }
        return found;
      });
      expect(problems).toEqual([]);
      // The long name is cut in the middle and shows in full on hover.
      const name = panel.locator('.jp-Usage-kernelName').first();
      await expect(name).toHaveAttribute('title', new RegExp(long));
      const label = name.locator('.jp-Usage-kernelLabelStart');
      await expect(name.locator('.jp-Usage-kernelLabelEnd')).toHaveText(
        'analysis'
      );
      const truncated = await label.evaluate(
        node => node.scrollWidth > node.clientWidth
      );
      expect(truncated).toBe(true);
      // Sparklines carry their scale: the peak and the limit.
      const scale = panel.locator('[data-key="cpu"] .jp-Usage-sparkScale');
      await expect(scale).toContainText('peak');
      await expect(scale).toContainText('limit');
      const chart = panel.locator('[data-key="cpu"] .jp-Usage-sparkline');
      expect((await chart.boundingBox())!.height).toBeGreaterThanOrEqual(40);
      // Budget notices would lie over the panel's foot.
      await hideNotifications(page);
      await panel.screenshot({ path: `test-results/usage-panel-${width}.png` });
    }
  });
});
