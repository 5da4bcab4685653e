/**
 * The server's store holds a session that ended while JupyterLab was closed (see
 * jupyter_server_test_config.py). Its project runs first (playwright.config.js): the notification is shown once.
 */
import { expect, test } from '@jupyterlab/galata';

test('the last session is announced once, with its summary one click away', async ({
  page
}) => {
  const toast = page.locator('.Toastify__toast', {
    hasText: 'Your last session'
  });
  await expect(toast).toBeVisible();
  await expect(toast).toContainText('2 h 0 min');
  await toast.getByRole('button', { name: 'Show summary' }).click();

  const summary = page.locator('.jp-Dialog', { hasText: 'Session summary' });
  await expect(summary).toBeVisible();
  await expect(summary).toContainText('75 %');
  await page.screenshot({ path: 'test-results/last-session.png' });
  await summary.getByRole('button').last().click();

  // Seen: a new page load does not announce it again.
  await page.reload();
  await page.waitForSelector('#jupyterlab-splash', { state: 'detached' });
  await page.waitForTimeout(2000);
  await expect(
    page.locator('.Toastify__toast', { hasText: 'Your last session' })
  ).toHaveCount(0);
});
