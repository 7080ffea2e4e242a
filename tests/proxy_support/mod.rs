//! Helpers for the proxy's tests: a self-signed certificate (made with the
//! `openssl` CLI), a rustls connector for tokio-postgres that trusts it, an
//! in-process proxy with free ports, and psql through it.
#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Command;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use sextant_proxy::{
    BackendCredentials, ComputeNode, Listen, Proxy, ProxyConfig, ProxyHandle, RoleHint, TlsFiles,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

/// A test CA and a certificate it signed for `localhost` and `127.0.0.1`.
pub struct Certs {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (is the openssl package installed?)");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Certs {
    /// Makes the CA and the server pair in `dir` with the `openssl` CLI.
    pub fn make(dir: &Path) -> Certs {
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509", "-days", "2", "-subj", "/CN=sextant test CA"];
        ca.extend(ec);
        ca.extend(["-keyout", "ca-key.pem", "-out", "ca.pem"]);
        openssl(&ca, dir);
        let mut csr = vec!["req", "-new", "-subj", "/CN=localhost"];
        csr.extend(ec);
        csr.extend(["-keyout", "proxy-key.pem", "-out", "proxy.csr"]);
        openssl(&csr, dir);
        std::fs::write(
            dir.join("ext.cnf"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n",
        )
        .unwrap();
        openssl(
            &[
                "x509",
                "-req",
                "-in",
                "proxy.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca-key.pem",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
                "-out",
                "proxy-cert.pem",
            ],
            dir,
        );
        Certs {
            ca: dir.join("ca.pem"),
            cert: dir.join("proxy-cert.pem"),
            key: dir.join("proxy-key.pem"),
        }
    }

    pub fn files(&self) -> TlsFiles {
        TlsFiles {
            cert: self.cert.clone(),
            key: self.key.clone(),
        }
    }

    /// A tokio-postgres TLS connector that trusts exactly the test CA.
    pub fn connector(&self) -> RustlsConnect {
        let pem = std::fs::read(&self.ca).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(&pem) {
            roots.add(c.unwrap()).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        RustlsConnect(Arc::new(config))
    }
}

/// tokio-postgres over rustls.
#[derive(Clone)]
pub struct RustlsConnect(Arc<rustls::ClientConfig>);

pub struct RustlsTls {
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
}

pub struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S> MakeTlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsTls;
    type Error = std::io::Error;
    fn make_tls_connect(&mut self, domain: &str) -> std::io::Result<RustlsTls> {
        let name = ServerName::try_from(domain.to_owned())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        Ok(RustlsTls {
            config: self.0.clone(),
            name,
        })
    }
}

impl<S> TlsConnect<S> for RustlsTls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<RustlsStream<S>>> + Send>>;
    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let s = tokio_rustls::TlsConnector::from(self.config)
                .connect(self.name, stream)
                .await?;
            Ok(RustlsStream(s))
        })
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

/// The proxy's login to compute and to the test PostgreSQL.
pub fn backend_credentials() -> BackendCredentials {
    BackendCredentials {
        user: "sextant".into(),
        password: "sextant".into(),
        database: "sextant".into(),
    }
}

/// A plain PostgreSQL server as the only (writer) node.
pub fn single_writer(addr: &str) -> Vec<ComputeNode> {
    vec![ComputeNode {
        name: "pg".into(),
        sql_addr: addr.into(),
        admin_addr: None,
        role: RoleHint::Writer,
    }]
}

/// A proxy on free loopback ports (writer, reader, metrics), with TLS if
/// `certs`, after `tweak`.
pub async fn start_proxy(
    nodes: Vec<ComputeNode>,
    certs: Option<&Certs>,
    tweak: impl FnOnce(&mut ProxyConfig),
) -> ProxyHandle {
    let any = || Listen::Addr("127.0.0.1:0".parse().unwrap());
    let mut c = ProxyConfig::new(any(), backend_credentials(), nodes);
    c.reader_listen = Some(any());
    c.metrics_listen = Some(any());
    c.tls = certs.map(Certs::files);
    c.health.interval = Duration::from_millis(100);
    c.health.timeout = Duration::from_millis(500);
    tweak(&mut c);
    Proxy::start(c).await.expect("start the proxy")
}

/// psql with a libpq connection string, `-c sql`; the whole output.
pub fn psql(conninfo: &str, sql: &str) -> std::process::Output {
    Command::new("psql")
        .args([
            "-X",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-v",
            "VERBOSITY=verbose",
        ])
        .args(["-d", conninfo, "-c", sql])
        .env("PGCONNECT_TIMEOUT", "10")
        .env_remove("PGPASSWORD")
        .output()
        .expect("run psql (is postgresql-client installed?)")
}

/// A libpq connection string to `port` on loopback.
pub fn conninfo(port: u16, user: &str, password: &str, sslmode: &str) -> String {
    let password = password.replace('\\', "\\\\").replace('\'', "\\'");
    format!(
        "host=127.0.0.1 port={port} user={user} password='{password}' dbname=sextant sslmode={sslmode} gssencmode=disable"
    )
}

/// One metric's value in Prometheus text, summed over label sets that
/// contain `labels` (e.g. `reason="password"`).
pub fn metric(text: &str, name: &str, labels: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']) && l.contains(labels)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
