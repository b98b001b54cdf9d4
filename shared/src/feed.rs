//! feed: see docs/data-model.md. Filled by the social-core work (issue 3).
