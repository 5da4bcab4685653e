/**
 * What the panel's and the dashboard's tests share: notebooks that hold memory, opening
 * the panel, and hiding the notifications that would cover the screenshots.
 */
import { expect } from '@jupyterlab/galata';
import type { IJupyterLabPageFixture } from '@jupyterlab/galata';
import type { Locator } from '@playwright/test';

export const PANEL = '#jupyter-usage-panel';
export const DASHBOARD = '#jupyter-usage-dashboard';

/** The service answers once the server has reported its sessions to the hub. */
const SERVICE_TIMEOUT = { timeout: 60_000 };

/** A one-cell Python notebook, with its kernelspec so opening it asks for no kernel. */
export function notebook(source: string): string {
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

/** Start a kernel for `name` that holds `mib` MiB. */
export async function runNotebook(
  page: IJupyterLabPageFixture,
  tmpPath: string,
  name: string,
  mib: number
): Promise<void> {
  await page.contents.uploadContent(
    notebook(`ballast = b"\\x01" * (${mib} * 1024**2)`),
    'text',
    `${tmpPath}/${name}`
  );
  await page.notebook.openByPath(`${tmpPath}/${name}`);
  await page.notebook.activate(name);
  await page.notebook.run();
}

export async function openPanel(
  page: IJupyterLabPageFixture
): Promise<Locator> {
  await page.sidebar.openTab('jupyter-usage-panel');
  const panel = page.locator(PANEL);
  await expect(panel).toBeVisible();
  return panel;
}

/** Pages whose budget notices have been told (and hidden): they are not told again. */
const budgetsTold = new WeakSet<object>();

/**
 * Hide every notification, for a screenshot of what lies beneath. Under the Galata hub
 * (budget_hub.py) the budget notices come when the service first answers, which may be
 * after the page is ready: the first time on a page, when a budget is 80 % used or
 * spent, wait for its notice, so that none comes after (each is told once a page).
 */
export async function hideNotifications(
  page: IJupyterLabPageFixture
): Promise<void> {
  const toasts = page.locator('.Toastify__toast');
  if (!budgetsTold.has(page)) {
    const response = await page.request.get('/api/usage/v1/budget');
    expect(response.ok()).toBe(true);
    const { budgets } = await response.json();
    const told = (budgets ?? []).some(
      (b: { exhausted: boolean; used: number; limit: number }) =>
        b.exhausted || b.used >= 0.8 * b.limit
    );
    if (told) {
      await expect(toasts.first()).toBeVisible(SERVICE_TIMEOUT);
    }
    budgetsTold.add(page);
  }
  for (const button of await toasts.getByTitle('Hide notification').all()) {
    await button.click();
  }
  await expect(toasts).toHaveCount(0);
}
