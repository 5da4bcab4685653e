/**
 * Galata, driving the system's Chromium (no browser download needed).
 */
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

const chromium = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

module.exports = {
  ...baseConfig,
  timeout: 90000,
  retries: process.env.CI ? 1 : 0,
  workers: 1,
  use: {
    ...baseConfig.use,
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
  reporter: [['list'], ['html', { open: 'never' }]],
  webServer: {
    command: 'jlpm start',
    url: 'http://localhost:8888/lab',
    timeout: 120 * 1000,
    reuseExistingServer: !process.env.CI
  }
};
