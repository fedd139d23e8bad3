//! Lambda's platform log lines, in its exact Text format (fields separated by tabs).

use std::time::Duration;

pub fn start_line(request_id: &str, version: &str) -> String {
    format!("START RequestId: {request_id} Version: {version}\n")
}

pub fn end_line(request_id: &str) -> String {
    format!("END RequestId: {request_id}\n")
}

/// Billed duration: whole milliseconds, rounded up (1 ms granularity since December 2020).
pub fn billed_ms(duration: Duration) -> u64 {
    let micros = duration.as_micros();
    micros.div_ceil(1000).max(1) as u64
}

pub struct Report<'a> {
    pub request_id: &'a str,
    pub duration: Duration,
    pub memory_size_mb: u32,
    pub max_memory_used_mb: u64,
    pub init_duration: Option<Duration>,
    pub timed_out: bool,
}

impl Report<'_> {
    pub fn line(&self) -> String {
        let mut line = format!(
            "REPORT RequestId: {}\tDuration: {:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB\t",
            self.request_id,
            millis(self.duration),
            billed_ms(self.duration),
            self.memory_size_mb,
            self.max_memory_used_mb,
        );
        if let Some(init) = self.init_duration {
            line.push_str(&format!("Init Duration: {:.2} ms\t", millis(init)));
        }
        if self.timed_out {
            line.push_str("Status: timeout\t");
        }
        line.push('\n');
        line
    }
}

pub fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `2024-05-01T10:11:15.350Z <id> Task timed out after 3.00 seconds`
pub fn timeout_line(request_id: &str, timeout: Duration) -> String {
    format!(
        "{} {request_id} Task timed out after {:.2} seconds\n",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ"),
        timeout.as_secs_f64()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_line_has_lambdas_fields_in_order() {
        let line = Report {
            request_id: "id",
            duration: Duration::from_micros(2470),
            memory_size_mb: 128,
            max_memory_used_mb: 39,
            init_duration: Some(Duration::from_micros(120_320)),
            timed_out: false,
        }
        .line();
        assert_eq!(
            line,
            "REPORT RequestId: id\tDuration: 2.47 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 39 MB\tInit Duration: 120.32 ms\t\n"
        );
    }

    #[test]
    fn billing_rounds_up_to_whole_milliseconds() {
        assert_eq!(billed_ms(Duration::from_micros(1)), 1);
        assert_eq!(billed_ms(Duration::from_micros(1000)), 1);
        assert_eq!(billed_ms(Duration::from_micros(1001)), 2);
    }
}
