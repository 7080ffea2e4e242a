//! The dev cluster's identities: an IAM file for its proxy with one IAM
//! user allowed to connect as the dev superuser (tokens from `sextant
//! token` or boto3), plus the superuser as a SCRAM password user, and
//! `dev-credentials.env` with the IAM user's access key, so a new user can
//! make a token at once. Made on the first start and kept across restarts
//! (the access key stays valid); the secret is random per data directory.
//! Also the proxy's self-signed TLS certificate.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Region, account and cluster id of the dev cluster's IAM.
pub const DEV_REGION: &str = "us-east-1";
const DEV_ACCOUNT: &str = "000000000000";
const DEV_CLUSTER_ID: &str = "cluster-SEXTANTDEV";
/// The IAM user `sextant dev` creates.
pub const DEV_IAM_USER: &str = "sextant-dev";

/// Where the dev identities live.
pub struct DevIam {
    /// The proxy's IAM file.
    pub iam_file: PathBuf,
    /// `AWS_ACCESS_KEY_ID=…` lines for `sextant token` / boto3.
    pub credentials_env: PathBuf,
    /// The IAM user's access key id.
    pub access_key_id: String,
}

/// Makes (first start) or reuses (later starts) the dev IAM file and
/// credentials under `data`. `db_user`/`db_password` become the SCRAM
/// password user; the IAM user may connect as `db_user`.
pub fn ensure(data: &Path, db_user: &str, db_password: &str) -> anyhow::Result<DevIam> {
    let iam_file = data.join("iam.toml");
    let credentials_env = data.join("dev-credentials.env");
    if !iam_file.exists() || !credentials_env.exists() {
        let key_id = format!(
            "AKIA{}",
            random_chars(16, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")?
        );
        let secret = random_chars(
            40,
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        )?;
        let text = iam_toml(&key_id, &secret, db_user, db_password);
        // Checked by the proxy's own parser before anything is written.
        sextant_proxy::iam::IamFile::parse(&text).context("the dev IAM file")?;
        write_private(&iam_file, &text)?;
        let env = format!(
            "# Written by `sextant dev`: the dev IAM user {DEV_IAM_USER}'s access key.\n\
             # set -a; . ./dev-credentials.env; set +a; sextant token --host 127.0.0.1 --port PORT --user {db_user} --region {DEV_REGION}\n\
             AWS_ACCESS_KEY_ID={key_id}\nAWS_SECRET_ACCESS_KEY={secret}\nAWS_REGION={DEV_REGION}\n"
        );
        write_private(&credentials_env, &env)?;
    }
    let env = std::fs::read_to_string(&credentials_env)
        .with_context(|| format!("read {}", credentials_env.display()))?;
    let access_key_id = env
        .lines()
        .find_map(|l| l.strip_prefix("AWS_ACCESS_KEY_ID="))
        .with_context(|| format!("no AWS_ACCESS_KEY_ID in {}", credentials_env.display()))?
        .to_owned();
    Ok(DevIam {
        iam_file,
        credentials_env,
        access_key_id,
    })
}

fn iam_toml(key_id: &str, secret: &str, db_user: &str, db_password: &str) -> String {
    let mut s = format!(
        "# Written by `sextant dev`: the dev proxy's IAM (dev only).\n\
         region = \"{DEV_REGION}\"\naccount = \"{DEV_ACCOUNT}\"\ncluster_id = \"{DEV_CLUSTER_ID}\"\n\n\
         [[iam_users]]\nname = \"{DEV_IAM_USER}\"\n\
         access_keys = [{{ id = \"{key_id}\", secret = \"{secret}\" }}]\n"
    );
    let _ = write!(
        s,
        "policies = ['''\n{{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    \
         {{ \"Effect\": \"Allow\", \"Action\": \"rds-db:connect\",\n      \
         \"Resource\": \"arn:aws:rds-db:{DEV_REGION}:{DEV_ACCOUNT}:dbuser:{DEV_CLUSTER_ID}/{db_user}\" }},\n    \
         {{ \"Effect\": \"Allow\", \"Action\": \"sextant-ingest:PutEvents\",\n      \
         \"Resource\": \"arn:aws:sextant-ingest:{DEV_REGION}:{DEV_ACCOUNT}:table:{DEV_CLUSTER_ID}/*\" }}\n  ]\n}}\n''']\n\n\
         [[password_users]]\nname = \"{db_user}\"\npassword = \"{db_password}\"\niam_tokens = true\n"
    );
    s
}

/// The proxy's TLS pair under `data/tls/`: a self-signed certificate for
/// `localhost` and `127.0.0.1`, made on the first start and kept, so a
/// client may pin it (`sslrootcert=…/tls/proxy.crt sslmode=verify-full`).
pub fn ensure_tls(data: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let dir = data.join("tls");
    let (cert, key) = (dir.join("proxy.crt"), dir.join("proxy.key"));
    if !cert.exists() || !key.exists() {
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        let pair = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .context("make the dev TLS certificate")?;
        write_private(&key, &pair.signing_key.serialize_pem())?;
        std::fs::write(&cert, pair.cert.pem())
            .with_context(|| format!("write {}", cert.display()))?;
    }
    Ok((cert, key))
}

/// The ingest service's bearer-token file under `data/`, with one random
/// token made on the first start and kept; returns the file and the token.
pub fn ensure_ingest_token(data: &Path) -> anyhow::Result<(PathBuf, String)> {
    let path = data.join("ingest-tokens");
    if !path.exists() {
        let token = format!(
            "sxt_{}",
            random_chars(32, b"abcdefghijklmnopqrstuvwxyz012345")?
        );
        write_private(
            &path,
            &format!("# Written by `sextant dev`: bearer tokens of the ingest service.\n{token}\n"),
        )?;
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let token = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .with_context(|| format!("no token in {}", path.display()))?
        .to_owned();
    Ok((path, token))
}

/// `n` characters drawn uniformly from `alphabet` (whose length divides 256).
fn random_chars(n: usize, alphabet: &[u8]) -> anyhow::Result<String> {
    assert!(256 % alphabet.len() == 0, "alphabet length must divide 256");
    let mut bytes = vec![0u8; n];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| anyhow::anyhow!("no system randomness"))?;
    Ok(bytes
        .iter()
        .map(|b| char::from(alphabet[usize::from(*b) % alphabet.len()]))
        .collect())
}

/// Writes a file only its owner may read (it holds secrets).
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts
        .open(path)
        .with_context(|| format!("create {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dev_iam_file_parses_and_is_kept_across_starts() {
        let dir = tempfile::tempdir().unwrap();
        let first = ensure(dir.path(), "sextant", "sextant").unwrap();
        let text = std::fs::read_to_string(&first.iam_file).unwrap();
        let iam = sextant_proxy::iam::IamFile::parse(&text).unwrap();
        assert!(iam.password_user("sextant").is_some());
        assert!(first.access_key_id.starts_with("AKIA") && first.access_key_id.len() == 20);
        let again = ensure(dir.path(), "sextant", "sextant").unwrap();
        assert_eq!(again.access_key_id, first.access_key_id);
        assert_eq!(std::fs::read_to_string(&again.iam_file).unwrap(), text);
    }
}
