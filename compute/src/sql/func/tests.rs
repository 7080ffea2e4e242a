//! Unit tests for what the PostgreSQL-recorded cases cannot pin: volatile
//! functions, the regex cache, LIKE's worst cases.
