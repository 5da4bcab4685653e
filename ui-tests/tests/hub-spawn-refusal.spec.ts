/**
 * A spawn refused for a spent budget, as the user reads it on the hub's spawn page: the
 * budget, its use against its limit, when it frees up, and a link to the usage service
 * (hub_report_server.py gives judy a budget her sessions have spent, and makes
 * `refuse_over_budget` the hub's pre-spawn hook).
 */
import { expect, test } from '@playwright/test';

test('the spawn page says why the server was refused, and until when', async ({
  page
}) => {
  await page.goto('/hub/login');
  await page.getByLabel('Username').fill('judy');
  await page.getByLabel('Password').fill('any password');
  await page.getByRole('button', { name: /sign in/i }).click();
  await page.waitForURL(/\/hub\/(home|spawn|spawn-pending|user)/);
  await page.goto('/hub/spawn');
  const message = page.locator('#error-message, .error, main').filter({
    hasText: 'is spent'
  });
  await expect(message.first()).toContainText(
    /Your rolling 30 days budget \(user:judy\) is spent: [\d.]+ server-hours? used of 0\.5/
  );
  await expect(message.first()).toContainText(
    /It resets at \d{4}-\d\d-\d\d \d\d:\d\d CES?T/
  );
  await expect(page.locator('body')).not.toContainText(
    'Failed to start your server on the last attempt'
  );
  await expect(
    page.getByRole('link', { name: 'See your usage and budgets' })
  ).toHaveAttribute('href', '/services/usage/');
  await page.screenshot({ path: '../docs/images/hub-spawn-refused.png' });
});
