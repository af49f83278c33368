//! Check my project's balance with a project token, and prove it: the chain is downloaded and
//! verified locally, and the balance recomputed from it must equal what the server says.
//!
//! ```sh
//! FISCUS_SERVER=http://127.0.0.1:7878 FISCUS_TOKEN=fiscus_… \
//!     cargo run -p fiscus-client --example check_balance -- rustconf-2026
//! ```

use fiscus_client::fiscus_ledger::money::format_amount;
use fiscus_client::{project_id, Client, ClientError, ClientOptions};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), ClientError> {
    let url = std::env::var("FISCUS_SERVER").unwrap_or_else(|_| "http://127.0.0.1:7878".to_owned());
    let token = std::env::var("FISCUS_TOKEN").ok();
    let project = project_id(&std::env::args().nth(1).unwrap_or_else(|| "rustconf-2026".to_owned()))?;
    let client = Client::connect(&url, ClientOptions { token, ..ClientOptions::default() }).await?;

    // What the server says.
    let balances = client.balance(&project, None).await?;
    for b in &balances.balances {
        println!(
            "{project}: balance {} {c}, available {} {c} (server, seq {})",
            format_amount(b.balance, b.currency),
            format_amount(b.available, b.currency),
            balances.head_seq,
            c = b.currency
        );
    }
    // What the chain proves: an error names the project, the seq and what differs.
    let verified = client.verify_project(&project).await?;
    println!(
        "verified {} records up to seq {} ({}): the balance follows from the chain",
        verified.records,
        verified.head_seq,
        fiscus_client::short(&verified.head_hash)
    );
    Ok(())
}
