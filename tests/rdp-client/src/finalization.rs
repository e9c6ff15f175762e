//! The connection sequence after TLS with the client's Font List held back until the
//! server's Synchronize, Control (Cooperate) and Control (Granted Control) came
//! ([`crate::FinalizationOrder::FontListAfterServerControl`]).

use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use ironrdp_async::FramedWrite as _;
use ironrdp_connector::connection_activation::ConnectionActivationState;
use ironrdp_connector::{
    ClientConnector, ClientConnectorState, ConnectionFinalizationState, ConnectionOutcome, Sequence as _,
};
use ironrdp_pdu::rdp::headers::ShareDataPdu;
use tokio::time::Instant;

use crate::tls::TlsStream;

/// How long [`FinalizationOrder::FontListAfterServerControl`] waits for the server's PDUs.
const SERVER_CONTROL_TIMEOUT: Duration = Duration::from_secs(10);

/// The connection sequence after TLS, step by step as `connect_finalize` runs it (no CredSSP,
/// no multitransport), except that the Font List waits for the server's Synchronize, Control
/// (Cooperate) and Control (Granted Control). What the server sends meanwhile is handed to
/// the connector after the Font List, as if it had arrived then.
pub(crate) async fn finalize_font_list_last(
    mut connector: ClientConnector,
    framed: &mut ironrdp_tokio::TokioFramed<TlsStream>,
) -> Result<ConnectionOutcome> {
    let mut buf = ironrdp_core::WriteBuf::new();
    let mut held = None;
    loop {
        if held.is_none() && sends_font_list_next(&connector) {
            held = Some(await_server_control(framed).await?);
            ironrdp_async::single_sequence_step(framed, &mut connector, &mut buf).await?;
            for pdu in held.as_deref().unwrap_or_default() {
                buf.clear();
                let written = connector.step(pdu, None, &mut buf)?;
                if let Some(len) = written.size() {
                    framed.write_all(&buf.filled()[..len]).await.context("answering the server")?;
                }
            }
        } else {
            ironrdp_async::single_sequence_step(framed, &mut connector, &mut buf).await?;
        }
        if let Some(outcome) = connector.state.take_outcome() {
            return Ok(outcome);
        }
    }
}

/// The connector's next step writes the Font List.
fn sends_font_list_next(connector: &ClientConnector) -> bool {
    let ClientConnectorState::ConnectionFinalization { connection_activation } = &connector.state else {
        return false;
    };
    matches!(
        connection_activation.connection_activation_state(),
        ConnectionActivationState::ConnectionFinalization { connection_finalization, .. }
            if matches!(connection_finalization.state, ConnectionFinalizationState::SendFontList)
    )
}

/// Reads server PDUs until the Synchronize, Control (Cooperate) and Control (Granted Control)
/// came; returns every PDU read. Fails after [`SERVER_CONTROL_TIMEOUT`] without them.
async fn await_server_control(framed: &mut ironrdp_tokio::TokioFramed<TlsStream>) -> Result<Vec<Vec<u8>>> {
    use ironrdp_pdu::rdp::finalization_messages::ControlAction;
    let mut pdus = Vec::new();
    let (mut synchronize, mut cooperate, mut granted) = (false, false, false);
    let deadline = Instant::now() + SERVER_CONTROL_TIMEOUT;
    while !(synchronize && cooperate && granted) {
        let read = tokio::time::timeout_at(deadline, framed.read_by_hint(&ironrdp_pdu::X224_HINT)).await;
        let pdu = match read {
            Ok(pdu) => pdu.context("reading the server's finalization PDUs")?.to_vec(),
            Err(_) => bail!(
                "before sending the Font List, waited {SERVER_CONTROL_TIMEOUT:?} for the server's Synchronize \
                 ({synchronize}), Control (Cooperate) ({cooperate}) and Control (Granted Control) ({granted})"
            ),
        };
        let share = ironrdp_pdu::mcs::decode_send_data_indication(&pdu)
            .and_then(ironrdp_pdu::rdp::headers::decode_share_data)
            .map(|ctx| ctx.pdu);
        match share {
            Ok(ShareDataPdu::Synchronize(_)) => synchronize = true,
            Ok(ShareDataPdu::Control(c)) if c.action == ControlAction::Cooperate => cooperate = true,
            Ok(ShareDataPdu::Control(c)) if c.action == ControlAction::GrantedControl => granted = true,
            Ok(ShareDataPdu::FontMap(_)) => bail!("the server sent its Font Map before the client's Font List"),
            _ => {}
        }
        pdus.push(pdu);
    }
    Ok(pdus)
}
