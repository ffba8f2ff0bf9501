//! `scopegate certs`: a CA and a serving certificate for `SERVICE.NAMESPACE.svc`, for clusters that do
//! not use cert-manager, and for local runs and tests.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// What to issue.
#[derive(Debug, Clone)]
pub struct CertRequest {
    pub service: String,
    pub namespace: String,
    /// Extra subject alternative names (DNS names or IP addresses), e.g. `localhost` for local runs.
    pub extra_sans: Vec<String>,
    pub ca_days: u32,
    pub serving_days: u32,
}

impl CertRequest {
    pub fn new(service: &str, namespace: &str) -> Self {
        Self {
            service: service.into(),
            namespace: namespace.into(),
            extra_sans: Vec::new(),
            ca_days: 3650,
            serving_days: 365,
        }
    }

    /// The names the API server may use to reach the Service.
    pub fn sans(&self) -> Vec<String> {
        let (s, n) = (&self.service, &self.namespace);
        let mut v = vec![
            s.clone(),
            format!("{s}.{n}"),
            format!("{s}.{n}.svc"),
            format!("{s}.{n}.svc.cluster.local"),
        ];
        v.extend(self.extra_sans.iter().cloned());
        v
    }
}

/// The PEM files of a CA and of the serving certificate it signed.
pub struct Issued {
    pub ca_cert: String,
    pub ca_key: String,
    pub cert: String,
    pub key: String,
}

impl Issued {
    /// The CA bundle as the webhook configurations' `caBundle` wants it: base64 of the PEM.
    pub fn ca_bundle(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.ca_cert.as_bytes())
    }
}

fn validity(params: &mut CertificateParams, days: u32) -> Result<()> {
    let today = jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    let start = today.yesterday().context("date out of range")?;
    let end = today
        .checked_add(jiff::Span::new().days(i64::from(days)))
        .context("validity too long")?;
    params.not_before = rcgen::date_time_ymd(i32::from(start.year()), start.month() as u8, start.day() as u8);
    params.not_after = rcgen::date_time_ymd(i32::from(end.year()), end.month() as u8, end.day() as u8);
    Ok(())
}

/// Make a CA and a serving certificate.
pub fn issue(req: &CertRequest) -> Result<Issued> {
    let ca_key = KeyPair::generate().context("generating the CA key")?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        format!("scopegate CA ({}/{})", req.namespace, req.service),
    );
    ca.distinguished_name = dn;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut ca, req.ca_days)?;
    let ca_cert = ca.self_signed(&ca_key).context("signing the CA")?;
    let issuer = Issuer::new(ca, &ca_key);

    let key = KeyPair::generate().context("generating the serving key")?;
    let sans = req.sans();
    let mut leaf = CertificateParams::new(sans.clone()).context("subject alternative names")?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, sans[2].clone());
    leaf.distinguished_name = dn;
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    validity(&mut leaf, req.serving_days)?;
    let cert = leaf
        .signed_by(&key, &issuer)
        .context("signing the serving certificate")?;
    Ok(Issued {
        ca_cert: ca_cert.pem(),
        ca_key: ca_key.serialize_pem(),
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// The files `write` creates, under the names a `kubernetes.io/tls` Secret uses.
pub fn paths(dir: &Path) -> [PathBuf; 4] {
    [
        dir.join("ca.crt"),
        dir.join("ca.key"),
        dir.join("tls.crt"),
        dir.join("tls.key"),
    ]
}

/// Write the four PEM files; keys are readable by their owner only.
pub fn write(dir: &Path, issued: &Issued) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let [ca_crt, ca_key, tls_crt, tls_key] = paths(dir);
    write_file(&ca_crt, &issued.ca_cert, false)?;
    write_file(&ca_key, &issued.ca_key, true)?;
    write_file(&tls_crt, &issued.cert, false)?;
    write_file(&tls_key, &issued.key, true)?;
    Ok(())
}

fn write_file(path: &Path, content: &str, private: bool) -> Result<()> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if private { 0o600 } else { 0o644 });
    }
    let mut f = opts.open(path).with_context(|| format!("writing {}", path.display()))?;
    f.write_all(content.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sans_cover_the_service_names() {
        let mut r = CertRequest::new("scopegate", "scopegate");
        r.extra_sans.push("localhost".into());
        assert_eq!(
            r.sans(),
            [
                "scopegate",
                "scopegate.scopegate",
                "scopegate.scopegate.svc",
                "scopegate.scopegate.svc.cluster.local",
                "localhost"
            ]
        );
    }

    #[test]
    fn issues_pem_files_and_a_bundle() {
        let issued = issue(&CertRequest::new("hook", "ns")).unwrap();
        assert!(issued.ca_cert.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(issued.cert.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(issued.key.contains("PRIVATE KEY"));
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(issued.ca_bundle())
            .unwrap();
        assert_eq!(decoded, issued.ca_cert.as_bytes());
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &issued).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("tls.key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
