import { expect, galata, test } from '@jupyterlab/galata';
import type { IJupyterLabPageFixture } from '@jupyterlab/galata';

const PANEL = '#jupyter-usage-panel';

/** A one-cell Python notebook. */
function notebook(source: string): string {
  return JSON.stringify({
    cells: [
      {
        cell_type: 'code',
        execution_count: null,
        metadata: {},
        outputs: [],
        source
      }
    ],
    metadata: {
      kernelspec: {
        display_name: 'Python 3 (ipykernel)',
        language: 'python',
        name: 'python3'
      }
    },
    nbformat: 4,
    nbformat_minor: 5
  });
}

async function openPanel(page: IJupyterLabPageFixture) {
  await page.sidebar.openTab('jupyter-usage-panel');
  const panel = page.locator(PANEL);
  await expect(panel).toBeVisible();
  return panel;
}

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
