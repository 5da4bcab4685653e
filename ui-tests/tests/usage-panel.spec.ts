import { expect, test } from '@jupyterlab/galata';

test.describe('Usage panel', () => {
  test('opens from the sidebar and shows live CPU and memory', async ({
    page
  }) => {
    await page.sidebar.openTab('jupyter-usage-panel');
    const panel = page.locator('#jupyter-usage-panel');
    await expect(panel.locator('[data-key="cpu"]')).toContainText('cores');
    await expect(panel.locator('[data-key="memory"]')).toContainText(/[KMG]iB/);
    await expect(panel.getByRole('meter').first()).toBeVisible();
    await page.screenshot({ path: 'test-results/usage-panel.png' });
  });
});
