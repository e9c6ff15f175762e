//! NLA: CredSSP with NTLM against the configured login, for clients that offer it.

use anyhow::Context;
use ironrdp_async::FramedWrite as _;
use ironrdp_connector::sspi::credssp::TsRequest;
use ironrdp_pdu::nego::SecurityProtocol;

use crate::auth;

use super::connection::Framed;

/// The largest CredSSP message a client may send. NTLM's are a few hundred bytes; the
/// BER length of a TSRequest allows 64 KiB.
const MAX_TS_REQUEST: usize = 16 * 1024;

/// Frames a client's TSRequest (a BER SEQUENCE) and refuses anything else at once, so that
/// garbage in place of CredSSP is never buffered while waiting for a length.
#[derive(Clone, Copy, Debug)]
struct TsRequestHint;

impl ironrdp_pdu::PduHint for TsRequestHint {
    fn find_size(&self, bytes: &[u8]) -> ironrdp_core::DecodeResult<Option<(bool, usize)>> {
        // The SEQUENCE tag, then a BER length of at most three bytes.
        if bytes.first().is_some_and(|&tag| tag != 0x30) {
            return Err(ironrdp_core::other_err!("TsRequestHint", "not a CredSSP message"));
        }
        match TsRequest::read_length(bytes) {
            Ok(len) if len > MAX_TS_REQUEST => {
                Err(ironrdp_core::other_err!("TsRequestHint", "a CredSSP message over the size cap"))
            }
            Ok(len) => Ok(Some((true, len))),
            Err(_) if bytes.len() < 4 => Ok(None),
            Err(_) => Err(ironrdp_core::other_err!("TsRequestHint", "a CredSSP message with a bad length")),
        }
    }
}

/// Why an NLA login did not succeed.
pub(super) enum NlaFailure {
    /// CredSSP ran and refused the client (wrong password, unknown user, a broken message):
    /// a failed login, as a wrong TLS login is.
    Refused(String),
    /// The connection broke before a verdict.
    Broken(anyhow::Error),
}

async fn write_ts_request(framed: &mut Framed, request: &TsRequest) -> anyhow::Result<()> {
    let mut bytes = Vec::with_capacity(usize::from(request.buffer_len().context("sizing a CredSSP message")?));
    request.encode_ts_request(&mut bytes).context("encoding a CredSSP message")?;
    framed.write_all(&bytes).await.context("writing")
}

/// The client went away (rather than sent something wrong).
fn gone(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
    matches!(e.kind(), UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe)
}

/// NLA: CredSSP with NTLM against `expected`, bound to the server's TLS public key. Returns
/// the user name of the credentials the client delegated, checked as a TLS login's are.
/// Nothing here needs the network beyond the client: NTLM is verified locally.
pub(super) async fn nla(
    framed: &mut Framed,
    protocol: SecurityProtocol,
    expected: &crate::Credentials,
    public_key: &[u8],
) -> Result<String, NlaFailure> {
    use ironrdp_connector::sspi::credssp::{CredSspServer, NStatusCode, ServerError, ServerMode, ServerState};
    let mut server = CredSspServer::new(
        public_key.to_vec(),
        auth::NtlmLogin(expected),
        ServerMode::Ntlm(ironrdp_connector::sspi::ntlm::NtlmConfig::default()),
    )
    .map_err(|e| NlaFailure::Broken(anyhow::anyhow!("starting CredSSP: {e}")))?;
    let verdict = loop {
        let pdu = framed.read_by_hint(&TsRequestHint).await.context("reading a CredSSP message");
        let request = match pdu.map(|pdu| TsRequest::from_buffer(&pdu)) {
            Ok(Ok(request)) => request,
            Ok(Err(e)) => break Err(format!("a CredSSP message that does not decode: {e}")),
            Err(e) if e.root_cause().downcast_ref::<std::io::Error>().is_some_and(gone) => {
                return Err(NlaFailure::Broken(e))
            }
            // Garbage, or a message over the cap.
            Err(e) => break Err(format!("{e:#}")),
        };
        // sspi slices what the client sends after NTLM (the public key echo, the delegated
        // credentials) without checking lengths first; a panic there is a refused login of
        // this one connection, not a dead session task.
        let step =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| server.process(request).resolve_to_result()));
        let Ok(step) = step else {
            break Err("a CredSSP message that sspi could not take (it panicked)".into());
        };
        match step {
            Ok(ServerState::ReplyNeeded(reply)) => {
                write_ts_request(framed, &reply).await.map_err(NlaFailure::Broken)?
            }
            Ok(ServerState::Finished(identity)) => {
                let given = ironrdp_pdu::rdp::client_info::Credentials {
                    username: identity.username.account_name().to_owned(),
                    password: identity.password.as_ref().clone(),
                    domain: None,
                };
                break auth::check_login(Some(expected), Some(&given));
            }
            Err(ServerError { ts_request, error }) => {
                let denied = error.error_type == ironrdp_connector::sspi::ErrorKind::LogonDenied;
                // The error code alone, told as Windows tells it, so that the client can say
                // "wrong password".
                if let Some(request) = ts_request {
                    let mut reply =
                        TsRequest { version: request.version, error_code: request.error_code, ..Default::default() };
                    if denied {
                        reply.error_code = Some(NStatusCode::LOGON_FAILURE);
                    }
                    let _ = write_ts_request(framed, &reply).await;
                }
                break Err(if denied {
                    format!("wrong user name or password ({error})")
                } else {
                    format!("CredSSP failed: {error}")
                });
            }
        }
    };
    if protocol.contains(SecurityProtocol::HYBRID_EX) {
        use ironrdp_connector::sspi::credssp::EarlyUserAuthResult;
        let answer = if verdict.is_ok() { EarlyUserAuthResult::Success } else { EarlyUserAuthResult::AccessDenied };
        let mut bytes = Vec::with_capacity(4);
        answer.to_buffer(&mut bytes).map_err(|e| NlaFailure::Broken(e.into()))?;
        let written = framed.write_all(&bytes).await.context("writing");
        if verdict.is_ok() {
            written.map_err(NlaFailure::Broken)?;
        }
    }
    verdict.map_err(NlaFailure::Refused)
}
