//! The events queue, and CloudTrail events as EventBridge delivers them.

pub struct Queues {
    pub sqs: aws_sdk_sqs::Client,
    pub url: String,
    pub dlq_url: String,
}

impl Queues {
    pub async fn send(&self, body: &str) {
        self.sqs
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }

    /// Messages in the queue, visible or in flight.
    pub async fn pending(&self, url: &str) -> u64 {
        use aws_sdk_sqs::types::QueueAttributeName::{
            ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible,
        };
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(ApproximateNumberOfMessages)
            .attribute_names(ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap();
        let attributes = attributes.attributes().unwrap();
        [ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible]
            .iter()
            .map(|name| attributes[name].parse::<u64>().unwrap())
            .sum()
    }
}

/// A CloudTrail record for an IAM call, wrapped as EventBridge delivers it.
pub fn eventbridge(event_name: &str, request: serde_json::Value, response: serde_json::Value) -> String {
    serde_json::json!({
        "version": "0",
        "id": "6f1e3c1a-0000-4000-8000-000000000000",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.iam",
        "time": chrono_now(),
        "region": "us-east-1",
        "detail": {
            "eventVersion": "1.08",
            "userIdentity": {"type": "IAMUser", "userName": "someone", "arn": "arn:aws:iam::123456789012:user/someone"},
            "eventTime": chrono_now(),
            "eventSource": "iam.amazonaws.com",
            "eventName": event_name,
            "awsRegion": "us-east-1",
            "requestParameters": request,
            "responseElements": response,
            "eventID": format!("evt-{}", chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()),
            "eventType": "AwsApiCall",
        }
    })
    .to_string()
}

fn chrono_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `iam-warden run` as a child process, its JSON log in a file.
/// The CloudTrail event of a key set active, as EventBridge delivers it.
pub fn key_event(user: &str, key: &str) -> String {
    eventbridge(
        "UpdateAccessKey",
        serde_json::json!({"userName": user, "accessKeyId": key, "status": "Active"}),
        serde_json::Value::Null,
    )
}
