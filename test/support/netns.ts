/** The namespace helpers live in testkit/netns.ts so `npm run bench:dist -- --netns` can use them too. */
export * from '../../testkit/netns.js';
