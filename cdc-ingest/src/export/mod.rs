//! `sextant export`: scheduled, atomic, resumable window exports.
