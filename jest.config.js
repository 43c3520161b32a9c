module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testTimeout: 120000,
  // Two cores: more workers only fight over libtorch's threads.
  maxWorkers: 2,
};
