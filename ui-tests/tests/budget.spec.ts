/**
 * Budgets as a user of a real hub sees them. The server acts as alice's server of the
 * JupyterHub that jupyter_server_test_config.py starts (budget_hub.py): the usage service
 * gives her a monthly budget of 15 USD (about 80 % used by an earlier server of hers and
 * the session this store holds), 10 GPU-hours (3.5 used) and 1 CPU core-hour (spent).
 */
import { expect, test } from '@jupyterlab/galata';
import type { IJupyterLabPageFixture } from '@jupyterlab/galata';

const PANEL = '#jupyter-usage-panel';
/** The figures come from the service once the server has reported its sessions. */
const SERVICE_TIMEOUT = { timeout: 60_000 };

async function budgetAnswer(page: IJupyterLabPageFixture): Promise<any> {
  const response = await page.request.get('/api/usage/v1/budget');
  expect(response.ok()).toBe(true);
  return response.json();
}

test.describe('Budgets', () => {
  test.use({ viewport: { width: 1280, height: 960 } });

  test.beforeEach(async ({ page }) => {
    const answer = await budgetAnswer(page);
    test.skip(
      answer.budgets.length === 0 &&
        answer.reason === 'not running under JupyterHub',
      'started without the hub (JUPYTER_USAGE_UI_HUB=0)'
    );
  });

  test('shows a bar per budget at the top of the panel', async ({ page }) => {
    await page.sidebar.openTab('jupyter-usage-panel');
    const panel = page.locator(PANEL);
    const bars = panel.locator('.jp-Usage-budgets [data-key="budget"]');
    await expect(bars).toHaveCount(3, SERVICE_TIMEOUT);
    const money = bars.filter({ hasText: 'USD this month' });
    await expect(money).toContainText(/^1[23]\.\d\d of 15\.00 USD this month/);
    await expect(money).toContainText('Your own budget, resets');
    await expect(money).toHaveClass(/jp-Usage-budget-warn/, SERVICE_TIMEOUT);
    await expect(bars.filter({ hasText: 'GPU:' })).toContainText(
      'GPU: 3.5 of 10 h this month'
    );
    const cpu = bars.filter({ hasText: 'CPU:' });
    await expect(cpu).toHaveClass(/jp-Usage-budget-spent/, SERVICE_TIMEOUT);
    await expect(cpu).toContainText(/of 1 core-h this month · spent/);
    await expect(
      panel.getByRole('meter', { name: 'Budget: Your own budget' })
    ).toHaveCount(3);
    // The notices (their own test) would cover the panel in the pictures.
    const hide = page
      .locator('.Toastify__toast')
      .getByTitle('Hide notification');
    await expect(hide.first()).toBeVisible(SERVICE_TIMEOUT);
    for (const button of await hide.all()) {
      await button.click();
    }
    await expect(page.locator('.Toastify__toast')).toHaveCount(0);
    await page.screenshot({ path: 'test-results/usage-budget.png' });
    await panel
      .locator('.jp-SidePanel-header')
      .screenshot({ path: 'test-results/usage-budget-bars.png' });
  });

  test('shows the budget nearest its limit in the status bar', async ({
    page
  }) => {
    const budget = page.locator(
      '#jp-main-statusbar .jp-Usage-status [data-key="budget"]'
    );
    await expect(budget).toContainText(
      /^CPU: [\d.]+ of 1 core-h this month · spent$/,
      SERVICE_TIMEOUT
    );
    await expect(budget).toHaveClass(/jp-Usage-budget-spent/);
    await page
      .locator('#jp-main-statusbar')
      .screenshot({ path: 'test-results/usage-budget-status.png' });
  });

  test('tells the user at 80 % and once a budget is spent, once each', async ({
    page
  }) => {
    const warning = page.locator('.Toastify__toast', {
      hasText:
        /You have used 8\d % of your own budget \(1[23]\.\d\d of 15\.00 USD this month\)/
    });
    const spent = page.locator('.Toastify__toast', {
      hasText:
        /You have spent your own budget \(CPU: [\d.]+ of 1 core-h this month\)/
    });
    await expect(warning).toBeVisible(SERVICE_TIMEOUT);
    await expect(spent).toBeVisible(SERVICE_TIMEOUT);
    await expect(
      page.locator('.Toastify__toast', { hasText: 'GPU' })
    ).toHaveCount(0);
    await page.screenshot({ path: 'test-results/usage-budget-notices.png' });
    // More answers of the service come and go; each is still told once.
    await page.waitForTimeout(12_000);
    await expect(warning).toHaveCount(1);
    await expect(spent).toHaveCount(1);
    // Its action opens the panel.
    await spent.getByRole('button', { name: 'Open Usage' }).click();
    await expect(page.locator(PANEL)).toBeVisible();
  });
});
