/**
 * axe-core on the panel, the summary dialog and the notifications, in the light and
 * the dark theme: no serious or critical violation.
 */
import AxeBuilder from '@axe-core/playwright';
import { expect, test } from '@jupyterlab/galata';
import type { IJupyterLabPageFixture } from '@jupyterlab/galata';

const PANEL = '#jupyter-usage-panel';

async function seriousViolations(
  page: IJupyterLabPageFixture,
  selector: string
): Promise<string[]> {
  const results = await new AxeBuilder({ page }).include(selector).analyze();
  return results.violations
    .filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(
      v =>
        `${v.id} (${v.impact}): ${v.help} — ${v.nodes
          .map(node => node.target.join(' '))
          .join(', ')}`
    );
}

for (const theme of ['light', 'dark'] as const) {
  test.describe(`in the ${theme} theme`, () => {
    test.use({ viewport: { width: 1280, height: 960 } });

    test.beforeEach(async ({ page }) => {
      if (theme === 'dark') {
        await page.theme.setDarkTheme();
      } else {
        await page.theme.setLightTheme();
      }
    });

    test('the panel has no serious violation', async ({ page }) => {
      await page.sidebar.openTab('jupyter-usage-panel');
      const panel = page.locator(PANEL);
      await expect(panel.getByRole('meter').first()).toBeVisible();
      await expect(
        panel.getByRole('img', { name: /CPU over the last \d+ minutes/ })
      ).toBeVisible();
      expect(await seriousViolations(page, PANEL)).toEqual([]);
      // Every chart says, in words, the figure it ends on.
      for (const chart of await panel.locator('.jp-Usage-sparkline').all()) {
        expect(await chart.getAttribute('aria-label')).toMatch(
          /over the last \d+ minutes, now \S/
        );
      }
    });

    test('the summary dialog has no serious violation', async ({ page }) => {
      await page.sidebar.openTab('jupyter-usage-panel');
      const past = page
        .locator(`${PANEL} .jp-Usage-pastSession button`)
        .first();
      await expect(past).toBeVisible();
      // From the keyboard: the budget notices may lie over the panel's foot.
      await past.focus();
      await page.keyboard.press('Enter');
      const dialog = page.locator('.jp-Dialog', { hasText: 'Session summary' });
      await expect(dialog).toBeVisible();
      expect(await seriousViolations(page, '.jp-Dialog')).toEqual([]);
      await page.keyboard.press('Escape');
      await expect(dialog).toBeHidden();
    });

    test('a notification has no serious violation', async ({ page }) => {
      // The notification center shows the toasts the notifier makes, with their actions.
      await page.evaluate(() => {
        const app = (window as any).jupyterapp;
        return app.commands.execute('apputils:notify', {
          message:
            'Memory near its limit (3.7 / 4.0 GiB): save, restart a kernel or pick a larger profile.',
          type: 'warning',
          options: {
            autoClose: false,
            actions: [
              {
                label: 'Open Usage',
                commandId: 'apputils:display-notifications'
              }
            ]
          }
        });
      });
      const toast = page.locator('.Toastify__toast', {
        hasText: 'near its limit'
      });
      await expect(toast).toBeVisible();
      expect(await seriousViolations(page, '.Toastify')).toEqual([]);
    });
  });
}
