// Unit tests of components and the model. The REST client (src/api.ts) is mocked,
// so nothing here imports JupyterLab's ES-module packages at run time.
module.exports = {
  testEnvironment: 'jsdom',
  testEnvironmentOptions: { pretendToBeVisual: true },
  roots: ['<rootDir>/src'],
  testRegex: '/__tests__/.*\\.spec\\.tsx?$',
  transform: {
    '^.+\\.tsx?$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }]
  },
  moduleNameMapper: {
    '\\.(css)$': '<rootDir>/src/__tests__/styleMock.js'
  },
  collectCoverageFrom: ['src/**/*.{ts,tsx}', '!src/**/__tests__/**']
};
