/**
 * Galata, driving the system's Chromium (no browser download needed).
 */
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

const chromium = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
// UI_PORT lets two checkouts run their suites side by side.
const port = process.env.UI_PORT || '8888';

module.exports = {
  ...baseConfig,
  timeout: 90000,
  retries: process.env.CI ? 1 : 0,
  workers: 1,
  use: {
    ...baseConfig.use,
    baseURL: `http://localhost:${port}`,
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
  // The order matters and is said here, not by file names: the last-session toast is
  // shown once, to the first page; File ▸ Shut Down stops the server, so it runs last.
  projects: [
    { name: 'last-session', testMatch: 'last-session.spec.ts' },
    {
      name: 'panel',
      testMatch: 'usage-panel.spec.ts',
      dependencies: ['last-session']
    },
    {
      name: 'budget',
      testMatch: 'budget.spec.ts',
      dependencies: ['last-session']
    },
    {
      name: 'shutdown',
      testMatch: 'shutdown.spec.ts',
      dependencies: ['panel', 'budget']
    }
  ],
  reporter: [['list'], ['html', { open: 'never' }]],
  webServer: {
    command: `jlpm start --ServerApp.port=${port}`,
    url: `http://localhost:${port}/lab`,
    // With a JupyterHub and its usage service to start first (budget_hub.py).
    timeout: 240 * 1000,
    reuseExistingServer: !process.env.CI
  }
};
