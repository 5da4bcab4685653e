/**
 * Galata, driving the system's Chromium (no browser download needed).
 */
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

const chromium = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
// UI_PORT lets two checkouts run their suites side by side.
const port = process.env.UI_PORT || '8888';
// Notebook 7 (`jupyter notebook`) runs beside JupyterLab, on the next port.
const notebookPort = String(Number(port) + 1);

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
      name: 'panel-fit',
      testMatch: 'panel-fit.spec.ts',
      dependencies: ['last-session']
    },
    {
      name: 'budget',
      testMatch: 'budget.spec.ts',
      dependencies: ['last-session']
    },
    {
      name: 'dashboard',
      testMatch: 'dashboard.spec.ts',
      dependencies: ['panel']
    },
    {
      name: 'notifications',
      testMatch: 'notifications.spec.ts',
      dependencies: ['panel']
    },
    {
      name: 'accessibility',
      testMatch: 'accessibility.spec.ts',
      dependencies: ['notifications']
    },
    {
      name: 'shutdown',
      testMatch: 'shutdown.spec.ts',
      dependencies: ['budget', 'dashboard', 'accessibility', 'panel-fit']
    },
    // Against its own `jupyter notebook` server; its last test shuts that server down.
    {
      name: 'notebook7',
      testMatch: 'notebook7.spec.ts',
      use: { baseURL: `http://localhost:${notebookPort}` }
    }
  ],
  reporter: [['list'], ['html', { open: 'never' }]],
  webServer: [
    {
      // The server runs in a cgroup v1 memory group of its own where the machine allows
      // one (in_memory_cgroup.py), so notifications.spec.ts can set a real limit and see a
      // real OOM kill.
      command: `python in_memory_cgroup.py jupyter lab --config jupyter_server_test_config.py --ServerApp.port=${port}`,
      url: `http://localhost:${port}/lab`,
      // With a JupyterHub and its usage service to start first (budget_hub.py).
      timeout: 240 * 1000,
      reuseExistingServer: !process.env.CI
    },
    {
      command: `jlpm start:notebook --ServerApp.port=${notebookPort}`,
      url: `http://localhost:${notebookPort}/tree`,
      timeout: 120 * 1000,
      reuseExistingServer: !process.env.CI
    }
  ]
};
