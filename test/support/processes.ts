// The process harness moved to testkit/ (the `troupe/testkit` entry); tests still import it here.
export * from '../../testkit/processes.js';
