//! IAM authentication: the proxy's IAM file, the verification of RDS IAM
//! auth tokens (SigV4 presigned `connect` URLs), policy evaluation, and
//! token generation for `sextant token`.
