/**
 * onnxruntime 1.29+ collects usage telemetry on Linux too (a device id and an event cache under
 * ~/.cache/Microsoft, uploads to Microsoft). Sightline sends nothing anywhere: this turns it off
 * before onnxruntime loads, unless the environment says otherwise.
 */
process.env.ORT_DISABLE_TELEMETRY ??= '1';
