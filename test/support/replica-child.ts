// The replica child moved to testkit/ (the `troupe/testkit` entry); tests still import it here.
export * from '../../testkit/replica-child.js';
