//! `sextant token --host H --port P --user U --region R` (DESIGN.md §6):
//! prints an RDS IAM auth token for the proxy, made from the usual AWS
//! credential variables, exactly as `aws rds generate-db-auth-token` would,
//! so scripts can use either tool. The token is valid for 15 minutes.

use std::time::SystemTime;

use anyhow::Context;
use clap::Args;
use sextant_proxy::iam::{generate_token, Credentials};

/// Flags of `sextant token`.
#[derive(Args, Debug)]
pub struct TokenArgs {
    /// Host name of the endpoint the client will connect to, as it will
    /// name it (the token is only valid for that name).
    #[arg(long, env = "SEXTANT_TOKEN_HOST")]
    pub host: String,
    /// Port of that endpoint.
    #[arg(long, env = "SEXTANT_TOKEN_PORT")]
    pub port: u16,
    /// Database user the client will log in as.
    #[arg(long, env = "SEXTANT_TOKEN_USER")]
    pub user: String,
    /// Region the proxy's IAM file declares.
    #[arg(long, env = "AWS_REGION")]
    pub region: String,
}

/// Prints the token on stdout, alone on its line.
pub async fn run(args: TokenArgs) -> anyhow::Result<()> {
    let creds = Credentials::from_env()
        .context("read AWS credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, optional AWS_SESSION_TOKEN)")?;
    let token = generate_token(
        &args.host,
        args.port,
        &args.user,
        &args.region,
        &creds,
        SystemTime::now(),
    )?;
    println!("{token}");
    Ok(())
}
