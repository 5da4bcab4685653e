/**
 * File ▸ Shut Down really stops the server: its project runs last (playwright.config.js),
 * and nothing after it may rely on the server.
 */
import { expect, test } from '@jupyterlab/galata';

// The server is gone at the end: leave the test folder where it is.
test.use({ serverFiles: 'on' });

test('File ▸ Shut Down shows the session summary, then stops the server', async ({
  page
}) => {
  const budget = await (await page.request.get('/api/usage/v1/budget')).json();
  await page.menu.open('File');
  const shutDown = page.locator('.lm-Menu-itemLabel', {
    hasText: /^Shut Down$/
  });
  // Ours replaces JupyterLab's, rather than sitting next to it.
  await expect(shutDown).toHaveCount(1);
  await shutDown.click();

  const confirm = page.locator('.jp-Dialog');
  await expect(confirm).toContainText('Shutdown confirmation');
  await expect(confirm).toContainText(
    'Please confirm you want to shut down JupyterLab.'
  );
  await confirm.getByRole('button', { name: 'Shut Down' }).click();

  const summary = page.locator('.jp-Dialog', { hasText: 'Session summary' });
  await expect(summary).toBeVisible();
  await expect(summary.locator('[data-key="summary-duration"]')).toBeVisible();
  await expect(summary).toContainText('Resource-hours');
  await expect(summary).toContainText('core-hours');
  await expect(summary).toContainText('Peaks');
  await expect(summary).toContainText('Advice');
  await expect(summary.locator('[data-key="summary-cost"]')).toContainText('$');
  if (budget.budgets.length > 0) {
    // With the hub of jupyter_server_test_config.py: what this session took.
    await expect(summary.locator('[data-key="summary-budgets"]')).toContainText(
      'This session took'
    );
  }
  await page.screenshot({ path: 'test-results/session-summary.png' });

  // Chromium may close a tab that only ever showed JupyterLab (window.close()).
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
