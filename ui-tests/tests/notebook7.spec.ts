/**
 * Notebook 7 (`jupyter notebook`), on a server of its own (playwright.config.js):
 * the last-session notification, the Usage panel in the right sidebar of the tree and
 * notebook pages, the dashboard as a tab, and File ▸ Shut Down with the summary. Plain
 * Playwright: Galata's fixtures expect JupyterLab. The tests run in this order (one
 * worker); the last one stops the server.
 */
import { expect, test } from '@playwright/test';
import type { Page } from '@playwright/test';

test.use({ viewport: { width: 1280, height: 1000 } });

const PANEL = '#jupyter-usage-panel';

async function ready(page: Page, path: string) {
  await page.goto(path);
  await page.waitForFunction(() => {
    const app = (window as any).jupyterapp;
    return app && app.isPluginActivated('jupyter-usage:panel');
  });
}

/** View ▸ Right Sidebar ▸ Usage, as a user opens it. */
async function openPanel(page: Page) {
  await page.locator('.lm-MenuBar-itemLabel', { hasText: /^View$/ }).click();
  await page
    .locator('.lm-Menu-itemLabel', { hasText: /^Right Sidebar$/ })
    .click();
  await page.locator('.lm-Menu-itemLabel', { hasText: /Usage/ }).last().click();
  const panel = page.locator(PANEL);
  await expect(panel).toBeVisible();
  return panel;
}

test('the last session is announced on the tree page', async ({ page }) => {
  await ready(page, '/tree');
  const toast = page.locator('.Toastify__toast', {
    hasText: 'Your last session'
  });
  await expect(toast).toBeVisible();
  await toast.getByRole('button', { name: 'Show summary' }).click();
  const summary = page.locator('.jp-Dialog', { hasText: 'Session summary' });
  await expect(summary).toBeVisible();
  await summary.getByRole('button').last().click();
});

test('the Usage panel is in the right sidebar of the tree page', async ({
  page
}) => {
  await ready(page, '/tree');
  const panel = await openPanel(page);
  await expect(panel.locator('[data-key="cpu"]')).toContainText('cores');
  await expect(panel.locator('[data-key="cost-total"]')).toContainText('$');
  await page.screenshot({ path: 'test-results/notebook7-tree.png' });
});

test('the dashboard is a tab of the tree page, and opens from the panel', async ({
  page
}) => {
  await ready(page, '/tree');
  await page.getByRole('tab', { name: /Usage dashboard/ }).click();
  const dashboard = page.locator('#jupyter-usage-dashboard');
  await expect(dashboard).toBeVisible();
  for (const id of ['cpu', 'memory', 'kernel-memory', 'cost']) {
    await expect(
      dashboard.locator(`[data-chart="${id}"]`).first()
    ).toBeVisible();
  }
  await expect(dashboard.locator('[data-chart="cpu"] canvas')).toBeVisible();
  await page.getByRole('tab', { name: /Files/ }).click();
  await expect(dashboard).toBeHidden();
  const panel = await openPanel(page);
  await panel.getByRole('button', { name: 'Dashboard', exact: true }).click();
  await expect(dashboard).toBeVisible();
  await page.screenshot({ path: 'test-results/notebook7-dashboard.png' });
});

test('on a notebook page the panel shows its kernel, the dashboard opens in a tab', async ({
  page,
  request,
  context
}) => {
  const name = `usage-nb7-${Date.now()}.ipynb`;
  const created = await request.put(`/api/contents/${name}`, {
    data: {
      type: 'notebook',
      format: 'json',
      content: {
        cells: [],
        metadata: {
          kernelspec: {
            display_name: 'Python 3 (ipykernel)',
            language: 'python',
            name: 'python3'
          }
        },
        nbformat: 4,
        nbformat_minor: 5
      }
    }
  });
  expect(created.ok()).toBe(true);
  await ready(page, `/notebooks/${name}`);
  const panel = await openPanel(page);
  await expect(
    panel.locator('.jp-Usage-kernels tbody tr', { hasText: name })
  ).toBeVisible({ timeout: 60000 });
  const opened = context.waitForEvent('page');
  await panel.getByRole('button', { name: 'Dashboard', exact: true }).click();
  const tab = await opened;
  await tab.waitForLoadState();
  expect(tab.url()).toMatch(/\/tree\?usage-dashboard$/);
  // A whole new page loads in that tab.
  const dashboard = tab.locator('#jupyter-usage-dashboard');
  await expect(dashboard).toBeVisible({ timeout: 60000 });
  await expect(
    dashboard.locator('.jp-UsageDashboard-table tbody tr', { hasText: name })
  ).toBeVisible({ timeout: 30000 });
  await tab.close();
  await page.screenshot({ path: 'test-results/notebook7-notebook.png' });
});

test('File ▸ Shut Down shows the session summary, then stops the server', async ({
  page
}) => {
  await ready(page, '/tree');
  await page.locator('.lm-MenuBar-itemLabel', { hasText: /^File$/ }).click();
  const shutDown = page.locator('.lm-Menu-itemLabel', {
    hasText: /^Shut Down$/
  });
  await expect(shutDown).toHaveCount(1);
  await shutDown.click();
  const confirm = page.locator('.jp-Dialog');
  await expect(confirm).toContainText('Shutdown confirmation');
  await confirm.getByRole('button', { name: 'Shut Down' }).click();
  const summary = page.locator('.jp-Dialog', { hasText: 'Session summary' });
  await expect(summary).toBeVisible();
  await expect(summary).toContainText('Resource-hours');
  await page.screenshot({ path: 'test-results/notebook7-summary.png' });
  const closed = page.waitForEvent('close').then(() => 'closed');
  await summary.getByRole('button', { name: 'Shut Down' }).click();
  const stopped = page
    .getByText('Server stopped')
    .waitFor()
    .then(() => 'stopped');
  expect(['closed', 'stopped']).toContain(
    await Promise.race([closed, stopped])
  );
});
