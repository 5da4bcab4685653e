/**
 * The hub's report page in a real JupyterHub: its own web server (hub_report_server.py
 * starts the hub, configurable-http-proxy and the usage service over imported sessions),
 * plain Playwright on the system's Chromium. Run it with
 * `jlpm playwright test -c playwright-hub.config.js`; UI_HUB_PORT picks the hub's port.
 */
const chromium = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const port = process.env.UI_HUB_PORT || '8887';

module.exports = {
  testDir: './tests',
  testMatch: ['hub-report.spec.ts', 'hub-spawn-refusal.spec.ts'],
  timeout: 90000,
  retries: process.env.CI ? 1 : 0,
  workers: 1,
  outputDir: 'test-results/hub',
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    video: 'off',
    trace: 'off',
    launchOptions: {
      executablePath: chromium,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync'
      ]
    }
  },
  reporter: [['list']],
  webServer: {
    command: `python hub_report_server.py ${port}`,
    url: `http://127.0.0.1:${port}/hub/login`,
    timeout: 180 * 1000,
    reuseExistingServer: !process.env.CI,
    gracefulShutdown: { signal: 'SIGTERM', timeout: 30000 },
    stdout: 'pipe'
  }
};
