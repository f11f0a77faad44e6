//! cutoff: when did an AS lose its last upstream, who cut it off, and what happened to spam.
