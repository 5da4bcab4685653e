/**
 * The main-area Usage dashboard.
 * Screenshots go to test-results/ (docs/images is refreshed from there).
 */
import { expect, test } from '@jupyterlab/galata';
import type { IJupyterLabPageFixture } from '@jupyterlab/galata';
import type { Locator } from '@playwright/test';

import { DASHBOARD, hideNotifications, PANEL, runNotebook } from './helpers';

const CHARTS = [
  'cpu',
  'memory',
  'kernel-memory',
  'kernel-cpu',
  'disk',
  'network',
  'cost'
];

async function closeDashboard(page: IJupyterLabPageFixture) {
  await page
    .getByRole('main')
    .getByRole('tab', { name: 'Usage dashboard' })
    .locator('.lm-TabBar-tabCloseIcon')
    .click();
  await expect(page.locator(DASHBOARD)).toHaveCount(0);
}

async function openDashboard(page: IJupyterLabPageFixture): Promise<Locator> {
  await page.evaluate(() =>
    (window as any).jupyterapp.commands.execute('jupyter-usage:open-dashboard')
  );
  const dashboard = page.locator(DASHBOARD);
  await expect(dashboard).toBeVisible();
  return dashboard;
}

test.describe('Usage dashboard', () => {
  test.use({ viewport: { width: 1400, height: 1000 } });

  test('opens through its command with every chart, kernels named by notebook', async ({
    page,
    tmpPath
  }) => {
    await runNotebook(page, tmpPath, 'which-ate-memory.ipynb', 192);
    const dashboard = await openDashboard(page);
    for (const id of CHARTS) {
      await expect(
        dashboard.locator(`[data-chart="${id}"] canvas`).first()
      ).toBeVisible();
    }
    // Axes with units, the limit in the legend.
    const cpu = dashboard.locator('[data-chart="cpu"]');
    await expect(cpu.locator('.u-axis').first()).toBeVisible();
    await expect(cpu.locator('.u-legend')).toContainText('Limit');
    await expect(cpu.locator('.u-legend')).toContainText('CPU used');
    await expect(
      dashboard.locator('[data-chart="cost"] .u-legend')
    ).toContainText('Cost so far');
    // Figures as text without hovering: the headline above each chart, and the
    // legend at the latest point rather than "–".
    await page.mouse.move(0, 0);
    await expect(cpu.locator('[data-figure="now"] dd')).toHaveText(
      /^\d+\.\d+ cores$/
    );
    await expect(cpu.locator('[data-figure="peak"] dd')).toContainText('cores');
    await expect(
      dashboard.locator('[data-chart="cost"] [data-figure="so-far"] dd')
    ).toContainText('$');
    await expect(
      cpu.locator('.u-legend .u-series').nth(1).locator('.u-value')
    ).toHaveText(/^\d+\.\d+$/);

    // The kernel, by its notebook's name, in the stacked chart and the table: the
    // server learns the notebook at its next look at the sessions, the chart from the
    // snapshot after that.
    const perKernel = dashboard.locator('[data-chart="kernel-memory"]');
    await expect(perKernel.locator('.u-legend')).toContainText(
      'which-ate-memory.ipynb',
      { timeout: 15000 }
    );
    // (A retry's first try left an ended kernel of the same notebook.)
    const row = dashboard
      .locator('.jp-UsageDashboard-table tbody tr', {
        hasText: 'which-ate-memory.ipynb'
      })
      .filter({ hasText: 'running' });
    await expect(row).toBeVisible();
    // Peak memory: the 192 MiB ballast and the interpreter.
    await expect(row.locator('td').nth(4)).toContainText(/\d+\.\d MiB|GiB/);

    // Hidden before the hover: clicking them moves the mouse off the chart.
    await hideNotifications(page);
    // Hover: exact values with units at the cursor.
    const plot = dashboard.locator('[data-chart="memory"] .u-over');
    const box = (await plot.boundingBox())!;
    await page.mouse.move(box.x + box.width - 4, box.y + box.height / 2);
    await expect(
      dashboard.locator('[data-chart="memory"] .u-legend .u-series').nth(1)
    ).toContainText(/\d+(\.\d)? (MiB|GiB)/);
    await page.screenshot({ path: 'test-results/usage-dashboard.png' });

    // Drag to zoom; Escape on the focused chart shows the whole range again.
    const cpuPlot = cpu.locator('.u-over');
    const cpuBox = (await cpuPlot.boundingBox())!;
    await page.mouse.move(cpuBox.x + cpuBox.width * 0.5, cpuBox.y + 20);
    await page.mouse.down();
    await page.mouse.move(cpuBox.x + cpuBox.width * 0.9, cpuBox.y + 20, {
      steps: 5
    });
    await page.mouse.up();
    await expect(cpu).toHaveAttribute('data-zoomed', '');
    await cpu.locator('.jp-UsageDashboard-plot').focus();
    await page.keyboard.press('Escape');
    await expect(cpu).not.toHaveAttribute('data-zoomed', '');
  });

  test('switches ranges by click and by keyboard, asking the server once each', async ({
    page
  }) => {
    const dashboard = await openDashboard(page);
    const ranges = dashboard.getByRole('radiogroup', { name: 'Time range' });
    await expect(ranges.getByRole('radio')).toHaveText([
      '15 min',
      '1 h',
      '24 h',
      '30 d'
    ]);
    const asked = (step: number) =>
      page.waitForRequest(
        request =>
          request.url().includes('/api/usage/v1/history?') &&
          request.url().includes(`step=${step}&kernels=1`)
      );
    let request = asked(12);
    await ranges.getByRole('radio', { name: '1 h' }).click();
    await request;
    await expect(ranges.getByRole('radio', { name: '1 h' })).toHaveAttribute(
      'aria-checked',
      'true'
    );
    request = asked(288);
    await page.keyboard.press('ArrowRight');
    await request;
    await expect(ranges.getByRole('radio', { name: '24 h' })).toBeFocused();
    await expect(ranges.getByRole('radio', { name: '24 h' })).toHaveAttribute(
      'aria-checked',
      'true'
    );
    await expect(
      dashboard.locator('[data-chart="cpu"] canvas').first()
    ).toBeVisible();
    request = asked(8640);
    await page.keyboard.press('ArrowRight');
    await request;
    await expect(
      dashboard.locator('[data-chart="memory"] canvas').first()
    ).toBeVisible();
  });

  test('is on the Launcher, in the palette, the View menu and the panel', async ({
    page
  }) => {
    const dashboard = page.locator(DASHBOARD);
    await page
      .locator('.jp-LauncherCard', { hasText: 'Usage Dashboard' })
      .click();
    await expect(dashboard).toBeVisible();
    await closeDashboard(page);

    await page.menu.clickMenuItem('View>Usage Dashboard');
    await expect(dashboard).toBeVisible();
    await closeDashboard(page);

    await page.keyboard.press('Control+Shift+C');
    const palette = page.locator('#command-palette');
    await palette.locator('.lm-CommandPalette-input').fill('Usage Dashboard');
    await palette
      .locator('.lm-CommandPalette-item', { hasText: 'Usage Dashboard' })
      .click();
    await expect(dashboard).toBeVisible();
    await closeDashboard(page);

    await page.sidebar.openTab('jupyter-usage-panel');
    await page
      .locator(PANEL)
      .getByRole('button', { name: 'Dashboard', exact: true })
      .click();
    await expect(dashboard).toBeVisible();
  });

  test('follows the dark theme', async ({ page }) => {
    await page.theme.setDarkTheme();
    const dashboard = await openDashboard(page);
    await expect(
      dashboard.locator('[data-chart="cpu"] canvas').first()
    ).toBeVisible();
    const background = await dashboard.evaluate(
      node => getComputedStyle(node).backgroundColor
    );
    const channels = (background.match(/\d+/g) ?? []).slice(0, 3).map(Number);
    expect(Math.max(...channels)).toBeLessThan(100);
    await hideNotifications(page);
    await page.screenshot({ path: 'test-results/usage-dashboard-dark.png' });
  });
});

test.describe('Usage dashboard in the layout', () => {
  test.use({
    viewport: { width: 1400, height: 1000 },
    // Galata waits for the Launcher to be the active tab; after a reload it is the
    // restored dashboard.
    waitForApplication: async ({}, use) => {
      await use(async page => {
        await page.locator('#jupyterlab-splash').waitFor({ state: 'detached' });
      });
    }
  });

  test('is restored with the layout, on the range it showed', async ({
    page
  }) => {
    const dashboard = await openDashboard(page);
    await dashboard.getByRole('radio', { name: '24 h' }).click();
    // The layout is saved a moment after it changes.
    await page.waitForTimeout(2000);
    await page.reload();
    await page.waitForSelector('#jupyterlab-splash', { state: 'detached' });
    await expect(page.locator(DASHBOARD)).toBeVisible();
    await expect(
      page.locator(DASHBOARD).getByRole('radio', { name: '24 h' })
    ).toHaveAttribute('aria-checked', 'true');
  });
});
