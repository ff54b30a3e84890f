//! AWS's Python SDK (boto3, `chime-sdk-meetings`) against a live server: every served operation,
//! seed 004's validation rules with the exception classes boto3 raises, and a live attendee
//! joined with its JoinToken (`tests/python/test_chime_boto3.py`).

mod common;
use common::*;

#[tokio::test]
async fn boto3_chime_sdk_meetings() {
    let server = TestServer::start().await;
    common::external::pytest("test_chime_boto3.py", &server.http, &server.ws).await;
    server.stop().await;
}
