-- Seconds of video a call generated: video calls are billed per second.
ALTER TABLE usage_records ADD COLUMN video_seconds BIGINT NOT NULL DEFAULT 0;
