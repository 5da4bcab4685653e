// Unit tests of components and the model. The REST client (src/api.ts) is mocked,
// so nothing here imports JupyterLab's ES-module packages at run time; uPlot is
// replaced by a recorder (jsdom cannot draw).
module.exports = {
  testEnvironment: 'jsdom',
  testEnvironmentOptions: { pretendToBeVisual: true },
  roots: ['<rootDir>/src'],
  testRegex: '/__tests__/.*\\.spec\\.tsx?$',
  transform: {
    '^.+\\.tsx?$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }]
  },
  moduleNameMapper: {
    '\\.(css)$': '<rootDir>/src/__tests__/styleMock.js',
    // jsdom has no canvas: charts are checked through what they hand to uPlot.
    '^uplot$': '<rootDir>/src/__tests__/uplotMock.js'
  },
  collectCoverageFrom: ['src/**/*.{ts,tsx}', '!src/**/__tests__/**']
};
