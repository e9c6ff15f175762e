//! The connection finalization in both orders that [MS-RDPBCGR] 1.3.1.1 allows: a client that
//! sends its Synchronize, Control (Cooperate), Control (Request Control) and Font List at once,
//! and one that waits for the server's Synchronize, Control (Cooperate) and Control (Granted
//! Control) before it sends its Font List. Both connect and get a first frame.

use std::time::Duration;

use wayrail_e2e::ironrdp::{connect_gfx, until};
use wayrail_e2e::Compositor;
use wayrail_rdp_testclient::{ClientBuilder, ClientOptions, FinalizationOrder};

const STEP: Duration = Duration::from_secs(15);

async fn connects_and_gets_a_frame(order: FinalizationOrder) {
    let wr = Compositor::start_rdp(&["--output", "1024x768"]);
    let opts = ClientOptions { size: (1024, 768), finalization: order, ..Default::default() };
    let mut client = connect_gfx(&wr, ClientBuilder::new(opts), STEP).await;
    until(&wr, &mut client, STEP, &format!("a first frame ({order:?})"), |c| c.frames_received() >= 1).await;
    assert_eq!(client.desktop_size(), (1024, 768));
    client.disconnect().await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn a_client_that_sends_its_finalization_at_once_connects() {
    connects_and_gets_a_frame(FinalizationOrder::Batched).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_client_that_waits_for_granted_control_before_its_font_list_connects() {
    connects_and_gets_a_frame(FinalizationOrder::FontListAfterServerControl).await;
}
