//! TLS for the test client: rustls on the ring provider, accepting any server certificate
//! (the servers under test make self-signed ones).

use std::sync::Arc;

use anyhow::{Context as _, Result};
use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use tokio_rustls::rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{DigitallySignedStruct, SignatureScheme};

use crate::transport::BoxStream;

pub type TlsStream = tokio_rustls::client::TlsStream<BoxStream>;

/// Trusts any certificate, but still checks that the handshake signatures are made with the
/// certificate's key, so the TLS session itself is sound.
#[derive(Debug)]
struct AnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

fn client_config() -> Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate { provider }))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Runs the TLS handshake on `stream` as RDP's enhanced security upgrade does.
pub async fn upgrade(stream: BoxStream) -> Result<TlsStream> {
    let connector = tokio_rustls::TlsConnector::from(client_config()?);
    let name = ServerName::try_from("localhost")?;
    connector.connect(name, stream).await.context("TLS handshake")
}

/// The public key of the server's certificate (the subjectPublicKey bits), which CredSSP
/// binds the login to.
pub fn server_public_key(tls: &TlsStream) -> Result<Vec<u8>> {
    use x509_cert::der::Decode as _;
    let cert =
        tls.get_ref().1.peer_certificates().and_then(|c| c.first()).context("the server showed no certificate")?;
    let cert = x509_cert::Certificate::from_der(cert.as_ref()).context("the server's certificate")?;
    Ok(cert.tbs_certificate().subject_public_key_info().subject_public_key.raw_bytes().to_vec())
}
