"""One trial end to end: trained (or read from the trial store), evaluated, and its result; plus
`pm2gan explore`, which runs trials without a sweep."""
