/**
 * Warnings with the Usage panel closed, against a server in a real cgroup v1 memory
 * group (in_memory_cgroup.py): the test gives the group a real limit, fills a
 * kernel's memory to the warning threshold, then past the limit, so the Linux kernel
 * OOM-kills it; the notifications must warn first and then name the notebook.
 */
import AxeBuilder from '@axe-core/playwright';
import { expect, test } from '@jupyterlab/galata';
import type { IJupyterLabPageFixture } from '@jupyterlab/galata';
import * as fs from 'fs';
import * as path from 'path';

const PANEL = '#jupyter-usage-panel';
const MIB = 2 ** 20;

/** Serious and critical axe-core violations inside `selector`. */
async function violations(page: IJupyterLabPageFixture, selector: string) {
  const results = await new AxeBuilder({ page }).include(selector).analyze();
  return results.violations
    .filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => `${v.id}: ${v.nodes.map(n => n.target.join(' ')).join(', ')}`);
}

async function usage(page: IJupyterLabPageFixture, part: string): Promise<any> {
  const response = await page.request.get(`/api/usage/v1/${part}`);
  expect(response.ok()).toBe(true);
  return response.json();
}

test('a normal page load asks nothing that fails and logs no error', async ({
  page
}) => {
  const failed: string[] = [];
  const errors: string[] = [];
  page.on('response', response => {
    if (response.status() >= 400) {
      failed.push(`${response.status()} ${response.url()}`);
    }
  });
  page.on('console', message => {
    if (message.type() === 'error') {
      errors.push(message.text());
    }
  });
  await page.reload();
  await page.waitForSelector('#jupyterlab-splash', { state: 'detached' });
  // Long enough for the last-session question and a few polls.
  await page.waitForTimeout(5000);
  expect(failed).toEqual([]);
  expect(errors).toEqual([]);
});

test.describe('with the panel closed', () => {
  let limitFile: string | null = null;

  test.afterEach(() => {
    if (limitFile) {
      fs.writeFileSync(limitFile, '-1\n'); // no limit again for the other tests
      limitFile = null;
    }
  });

  test('warns before memory runs out and names the notebook of the OOM kill', async ({
    page,
    tmpPath
  }) => {
    test.setTimeout(180000);
    const config = await usage(page, 'config');
    const group: string | undefined = config.sources?.cgroup?.paths?.memory;
    test.skip(
      !group || !path.basename(group).startsWith('jupyter-usage-ui-'),
      'the Galata server is not in a cgroup of its own (see in_memory_cgroup.py)'
    );
    if (await page.sidebar.isTabOpen('jupyter-usage-panel')) {
      await page.sidebar.close('right');
    }
    await expect(page.locator(PANEL)).toBeHidden();

    const name = 'oom-victim.ipynb';
    await page.contents.uploadContent(
      JSON.stringify({
        cells: [
          {
            cell_type: 'code',
            execution_count: null,
            metadata: {},
            outputs: [],
            source: 'blocks = []'
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
      }),
      'text',
      `${tmpPath}/${name}`
    );
    await page.notebook.openByPath(`${tmpPath}/${name}`);
    await page.notebook.activate(name);
    await page.notebook.runCell(0);

    // A real limit on the server's group: what it holds now and 384 MiB more.
    const before = (await usage(page, 'snapshot')).memory;
    const limit = Math.round((before.used_bytes + 384 * MIB) / 4096) * 4096;
    limitFile = path.join(group!, 'memory.limit_in_bytes');
    fs.writeFileSync(limitFile, `${limit}\n`);
    await expect
      .poll(async () => (await usage(page, 'snapshot')).memory.limit_bytes)
      .toBe(limit);

    // Up to about 93 % of the limit: the memory warning, naming the kernel.
    const used = (await usage(page, 'snapshot')).memory.used_bytes;
    const fill = Math.max(0, Math.round(0.93 * limit - used));
    await page.notebook.setCell(0, 'code', `blocks.append(b'\\x01' * ${fill})`);
    await page.notebook.runCell(0);
    const warning = page.locator('.Toastify__toast', {
      hasText: 'near its limit'
    });
    await expect(warning).toBeVisible({ timeout: 30000 });
    await expect(warning).toContainText(name);
    await expect(
      warning.getByRole('button', { name: 'Open Usage' })
    ).toBeVisible();
    await expect(page.locator(PANEL)).toBeHidden();
    expect(await violations(page, '.Toastify')).toEqual([]);
    await page.screenshot({ path: 'test-results/memory-warning.png' });

    // Past the limit: the kernel is OOM-killed, and the notice names its notebook.
    await page.notebook.setCell(
      0,
      'code',
      'while True:\n    blocks.append(b"\\x01" * 2**24)'
    );
    await page.notebook.selectCells(0);
    await page.keyboard.press('Control+Enter');
    const notice = page.locator('.Toastify__toast', {
      hasText: 'was stopped'
    });
    await expect(notice).toBeVisible({ timeout: 60000 });
    await expect(notice).toContainText(`Your kernel in ${name} was stopped`);
    await expect(page.locator(PANEL)).toBeHidden();
    expect(await violations(page, '.Toastify')).toEqual([]);
    await page.screenshot({ path: 'test-results/oom-notice.png' });

    // JupyterLab's own word on the death, then Open Usage opens the panel, where the
    // notice heads the Now section.
    const died = page.locator('.jp-Dialog', { hasText: 'Kernel Restarting' });
    await expect(died).toBeVisible();
    await died.getByRole('button', { name: 'Ok' }).click();
    await notice.getByRole('button', { name: 'Open Usage' }).click();
    await expect(page.locator(PANEL)).toBeVisible();
    await expect(
      page.locator(`${PANEL} .jp-Usage-notice`).first()
    ).toContainText(name);
  });
});
