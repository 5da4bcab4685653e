/**
 * The hub's report page, read as an admin and as a user, against a real JupyterHub whose
 * usage service holds 90 days of imported sessions (see hub_report_server.py). Saves the
 * screenshots of docs/hub.md: light, dark and phone width.
 */
import { expect, Page, test } from '@playwright/test';

const REPORT = '/services/usage/';
const IMAGES = '../docs/images';

async function logIn(page: Page, user: string): Promise<void> {
  await page.goto('/hub/login');
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Password').fill('any password');
  await page.getByRole('button', { name: /sign in/i }).click();
  await page.waitForURL(/\/hub\/(home|spawn|user)/);
}

/** Logs in as docs/hub.md tells admins to: straight to the report, starting no server
 * (a spawn would count as usage in the report they came to read). */
async function logInToReport(page: Page, user: string): Promise<string[]> {
  const spawns: string[] = [];
  page.on('request', request => {
    if (/\/hub\/spawn|\/user\//.test(new URL(request.url()).pathname)) {
      spawns.push(request.url());
    }
  });
  await page.goto('/hub/login?next=%2Fservices%2Fusage%2F');
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Password').fill('any password');
  await page.getByRole('button', { name: /sign in/i }).click();
  await page.waitForURL(/\/services\/usage\//);
  return spawns;
}

/** The texts of a table's column, by its header. */
async function column(
  page: Page,
  table: string,
  header: string
): Promise<string[]> {
  const headers = await page.locator(`${table} thead th`).allTextContents();
  const index = headers.indexOf(header);
  expect(index).toBeGreaterThanOrEqual(0);
  return page
    .locator(`${table} tbody tr td:nth-child(${index + 1})`)
    .allTextContents();
}

/** The line and fill colours of the concurrency chart's one series, from the marker of
 * its legend (the time's row comes first). */
async function seriesColours(page: Page): Promise<string[]> {
  return page
    .locator('#chart-concurrency .u-legend .u-marker')
    .last()
    .evaluate(marker => {
      const style = getComputedStyle(marker);
      return [style.borderTopColor, style.backgroundColor];
    });
}

/** Opens the report, with every chart drawn and no script or policy error. */
async function openReport(page: Page, query = ''): Promise<string[]> {
  const problems: string[] = [];
  page.on('pageerror', error => problems.push(error.message));
  page.on('console', message => {
    if (message.type() === 'error') {
      problems.push(message.text());
    }
  });
  await page.goto(REPORT + query);
  await expect(page.locator('html')).toHaveAttribute('data-charts', /[1-9]/);
  return problems;
}

test.describe('as an admin', () => {
  let spawns: string[] = [];
  test.beforeEach(async ({ page }) => {
    spawns = await logInToReport(page, 'ada');
  });
  test.afterEach(() => {
    expect(spawns).toEqual([]);
  });

  test('every section, in light', async ({ page }) => {
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize({ width: 1280, height: 900 });
    const problems = await openReport(page);
    await expect(page.getByRole('heading', { level: 1 })).toHaveText(
      'Physics Hub usage'
    );
    await expect(page.locator('header.top .brand')).toHaveAttribute(
      'href',
      '/hub/home'
    );
    await expect(page.getByRole('link', { name: 'log out' })).toHaveAttribute(
      'href',
      '/hub/logout'
    );
    await expect(page.locator('html')).toHaveAttribute('data-theme', 'light');
    // The cards: precision that fits, the comparison, stickiness defined.
    const cpu = page.locator('[data-kpi="cpu_core_seconds"] .value');
    await expect(cpu).toHaveText(/^[\d,.]+ core-h$/);
    await expect(cpu).not.toHaveText('0.0 core-h');
    await expect(page.locator('[data-kpi="sessions"] .change')).toHaveText(
      /^[+-][\d.]+ % vs the previous 30 days$/
    );
    await expect(
      page.locator('[data-kpi="stickiness_percent"] .help')
    ).toContainText('the 30 days up to');
    // Counts before averages; an average with the precision it needs.
    await expect(page.locator('[data-kpi="users_now"] .name')).toHaveText(
      'Users today'
    );
    await expect(page.locator('[data-kpi="users_now"] .value')).toHaveText(
      /^\d+ users?$/
    );
    await expect(page.locator('[data-kpi="users_now"] .change')).toHaveText(
      /^\d+ this week$/
    );
    await expect(page.locator('[data-kpi="dau"] .value')).toHaveText(
      /^\d+\.\d$/
    );
    // One unit per column, chosen for its size.
    for (const header of ['server time', 'CPU', 'memory']) {
      const cells = await column(page, '#users', header);
      const units = new Set(cells.map(cell => cell.replace(/^[<\s\d.,]+/, '')));
      expect(units.size, `${header}: ${cells.join(' | ')}`).toBe(1);
    }
    await expect(page.locator('.presets')).toContainText(
      '365 days · changes are against'
    );
    await expect(page.locator('body')).not.toContainText('byte-seconds');
    await expect(page.locator('body')).not.toContainText('unix seconds');
    // Charts with axes, the heatmap, running servers, groups and users.
    for (const id of [
      'chart-active-users',
      'chart-concurrency',
      'chart-daily-cost',
      'chart-daily-hours'
    ]) {
      await expect(page.locator(`#${id} .uplot canvas`)).toHaveCount(1);
      await expect(page.locator(`#${id} .u-axis`)).toHaveCount(2);
    }
    await expect(page.locator('#chart-daily-cost .u-legend')).toContainText(
      'EUR'
    );
    await expect(page.locator('table.heat tbody tr')).toHaveCount(7);
    await expect(page.locator('#running tbody tr')).toHaveCount(3);
    await expect(page.locator('#groups')).toContainText('physics');
    expect(await page.locator('#users tbody tr').count()).toBeGreaterThan(10);
    await expect(page.getByRole('link', { name: '90 days' })).toBeVisible();
    expect(problems).toEqual([]);
    await page.screenshot({
      path: `${IMAGES}/hub-report-light.png`,
      fullPage: true
    });
  });

  test('dark, from the system and from the toggle', async ({ page }) => {
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.setViewportSize({ width: 1280, height: 900 });
    const problems = await openReport(page);
    await expect(page.locator('html')).toHaveAttribute('data-theme', 'dark');
    const background = await page.evaluate(
      () => getComputedStyle(document.body).backgroundColor
    );
    expect(background).toBe('rgb(15, 17, 21)');
    // The charts draw in the dark palette: the first series' line, and its fill.
    expect(await seriesColours(page)).toEqual([
      'rgb(111, 168, 232)',
      'rgba(111, 168, 232, 0.2)'
    ]);
    expect(problems).toEqual([]);
    await page.screenshot({
      path: `${IMAGES}/hub-report-dark.png`,
      fullPage: true
    });
    await page.getByRole('button', { name: 'Light' }).click();
    await expect(page.locator('html')).toHaveAttribute('data-theme', 'light');
    await page.reload();
    await expect(page.locator('html')).toHaveAttribute('data-theme', 'light');
    await expect(page.locator('html')).toHaveAttribute('data-charts', /[1-9]/);
    expect((await seriesColours(page))[0]).toBe('rgb(47, 111, 179)');
    await page.getByRole('button', { name: 'Dark' }).click();
    await expect(page.locator('html')).toHaveAttribute('data-theme', 'dark');
  });

  test('phone width, without sideways scrolling', async ({ page }) => {
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize({ width: 390, height: 844 });
    const problems = await openReport(page);
    const width = await page.evaluate(
      () => document.documentElement.scrollWidth
    );
    expect(width).toBeLessThanOrEqual(390);
    const chart = await page.locator('#chart-concurrency .uplot').boundingBox();
    expect(chart?.width ?? 999).toBeLessThanOrEqual(390);
    // The cost comes right after the name, in view without scrolling the table.
    const cost = await page
      .locator('#users thead th', { hasText: /^cost$/ })
      .boundingBox();
    expect((cost?.x ?? 999) + (cost?.width ?? 0)).toBeLessThanOrEqual(390);
    expect(problems).toEqual([]);
    await page.screenshot({
      path: `${IMAGES}/hub-report-phone.png`,
      fullPage: true
    });
  });

  test('print preview: A4, whole tables, nothing to click', async ({
    page
  }) => {
    await page.setViewportSize({ width: 1280, height: 900 });
    await openReport(page);
    await page.emulateMedia({ media: 'print', colorScheme: 'light' });
    // A4 at 96 dpi, less the page's margins: 210 mm - 24 mm.
    await page.setViewportSize({ width: 703, height: 1000 });
    await expect(page.locator('form.window')).toBeHidden();
    await expect(page.locator('#theme-toggle')).toBeHidden();
    const overflowing = await page.evaluate(() =>
      Array.from(document.querySelectorAll('table, figure .uplot'))
        .filter(box => box.getBoundingClientRect().right > 703 + 1)
        .map(box => `${box.closest('section')?.id ?? '?'} ${box.className}`)
    );
    expect(overflowing).toEqual([]);
    await page.screenshot({
      path: `${IMAGES}/hub-report-print.png`,
      fullPage: true
    });
  });

  test("the 7-day preset and the drill-down: group, its users, a user's sessions", async ({
    page
  }) => {
    await page.setViewportSize({ width: 1280, height: 900 });
    await openReport(page);
    await page.getByRole('link', { name: '7 days', exact: true }).click();
    await expect(
      page.getByRole('link', { name: '7 days', exact: true })
    ).toHaveAttribute('aria-current', 'true');
    await expect(page.locator('.presets')).toContainText('changes are against');
    // The per-day chart ticks days ("Dec 7"), never hours, and its scale ends a day after
    // its last bar (today's), which is drawn whole.
    const activeUsers = page.locator('#chart-active-users');
    await expect(activeUsers).toHaveAttribute(
      'data-x-ticks',
      /^[A-Z][a-z]{2} \d{1,2}(\|[A-Z][a-z]{2} \d{1,2})*$/
    );
    const [first, end] = (
      (await activeUsers.getAttribute('data-x-range')) ?? ''
    )
      .split(' ')
      .map(Number);
    const todayStart = Math.floor(Date.now() / 86400000) * 86400;
    expect(end).toBe(todayStart + 86400);
    expect(first).toBeLessThanOrEqual(todayStart - 6 * 86400);
    await page
      .locator('#groups')
      .getByRole('link', { name: 'biology' })
      .click();
    await expect(
      page.getByRole('heading', { name: 'Users of group biology' })
    ).toBeVisible();
    const users = page.locator('#users tbody tr');
    expect(await users.count()).toBeGreaterThan(0);
    for (const row of await users.all()) {
      await expect(row).toContainText('biology');
    }
    // The exports keep the window and the group.
    const sessionsCsv = page.getByRole('link', {
      name: 'Sessions',
      exact: true
    });
    await expect(sessionsCsv).toHaveAttribute('href', /group=biology/);
    await page.locator('#users').getByRole('link', { name: 'heidi' }).click();
    await expect(page.getByRole('heading', { level: 1 })).toHaveText(
      'Sessions of heidi'
    );
    await expect(page.locator('.crumbs')).toContainText('group biology');
    await expect(page.locator('table.sessions tbody tr').first()).toContainText(
      'running'
    );
    await expect(page.locator('table.sessions thead')).toContainText(
      'idle cost'
    );
    await page.screenshot({ path: `${IMAGES}/hub-report-sessions.png` });
  });

  test('an unknown group is an empty report that says so', async ({ page }) => {
    await openReport(page, '?group=no-such-group');
    await expect(page.getByRole('status')).toContainText(
      'No sessions of group no-such-group in this window (no such group has reported)'
    );
  });
});

test('a user who is not an admin gets a page that leads to their own usage', async ({
  page
}) => {
  await logIn(page, 'bob');
  const answer = await page.goto(REPORT);
  expect(answer?.status()).toBe(403);
  await expect(page.locator('main')).toContainText("is for the hub's admins");
  await expect(
    page.getByRole('link', { name: 'Your sessions as CSV' })
  ).toHaveAttribute('href', /sessions\.csv\?user=bob/);
  await expect(page.getByRole('link', { name: 'log out' })).toBeVisible();
});
