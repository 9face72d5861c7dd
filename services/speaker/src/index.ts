export { createSpeakerApp, type LaneReport, type SpeakerApp, type SpeakerDeps, type TtsState } from './app.ts';
export { loadSpeakerConfig, OUTPUTS, PULSE_MODES, speakerEnvSchema, type OutputKind, type PulseMode, type SpeakerConfig } from './config.ts';
export { EarconFallbackAnnouncer, VoiceFallbackAnnouncer, type FallbackAnnouncer, type OfflineSpeech } from './fallback.ts';
export { offlineVoiceAnnouncer } from './voice-fallback.ts';
export { EARCON_FORMAT, NOT_RECOGNISED_CHIME, renderNotes, SCAN_CHIME, SPEECH_RESTORED_PATTERN, SPEECH_UNAVAILABLE_PATTERN, type Note } from './earcons.ts';
export { Player } from './player.ts';
export type { Announcement, LaneStatus } from './lane-state.ts';
export { convertPcm, type PcmFormat } from './pcm.ts';
export * from './sinks/index.ts';
