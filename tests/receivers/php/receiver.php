<?php
// A webhook receiver as an OPD's PHP developer would write it, run with PHP's built-in server:
//   WEBHOOK_SECRET=whsec_... RECEIVER_DIR=/tmp/r php -S 127.0.0.1:8000 receiver.php
// It verifies the Standard Webhooks signature with hash_hmac, then answers as RECEIVER_DIR/plan.json
// says (a list of {"status": 500} / {"status": 429, "retry_after": 2} / {"hang": 10} steps, one per
// verified request, then 200), and appends one JSON line per request to RECEIVER_DIR/log.jsonl.
$dir = getenv('RECEIVER_DIR');
$keyField = getenv('RECEIVER_KEY_FIELD') ?: 'id';
$secret = base64_decode(substr(getenv('WEBHOOK_SECRET'), strlen('whsec_')));
$id = $_SERVER['HTTP_WEBHOOK_ID'] ?? '';
$timestamp = $_SERVER['HTTP_WEBHOOK_TIMESTAMP'] ?? '';
$body = file_get_contents('php://input');

$expected = base64_encode(hash_hmac('sha256', "$id.$timestamp.$body", $secret, true));
$verified = false;
foreach (explode(' ', $_SERVER['HTTP_WEBHOOK_SIGNATURE'] ?? '') as $versioned) {
    [$version, $signature] = array_pad(explode(',', $versioned, 2), 2, '');
    $verified = $verified || ($version === 'v1' && hash_equals($expected, $signature));
}
$fresh = abs(time() - (int) $timestamp) <= 300;

function record(string $dir, array $entry): void {
    file_put_contents("$dir/log.jsonl", json_encode($entry) . "\n", FILE_APPEND | LOCK_EX);
}

if (!$verified || !$fresh) {
    record($dir, ['id' => $id, 'status' => 401, 'verified' => false]);
    http_response_code(401);
    exit;
}

// Take the next step of the plan (a counter file, locked: the server runs several workers).
$counter = fopen("$dir/served", 'c+');
flock($counter, LOCK_EX);
$served = (int) stream_get_contents($counter);
ftruncate($counter, 0);
rewind($counter);
fwrite($counter, (string) ($served + 1));
flock($counter, LOCK_UN);
fclose($counter);
$plan = json_decode(@file_get_contents("$dir/plan.json") ?: '[]', true);
$step = $plan[$served] ?? ['status' => 200];

$event = json_decode($body, true);
$data = ($_SERVER['CONTENT_TYPE'] ?? '') === 'application/json' ? $event : ($event['data'] ?? []);
$entry = [
    'id' => $id,
    'key' => $data[$keyField] ?? null,
    'type' => $_SERVER['HTTP_CE_TYPE'] ?? ($event['type'] ?? null),
    'fields' => array_keys($data),
    'verified' => true,
];
if (isset($step['hang'])) {
    record($dir, $entry + ['status' => 'hang']);
    sleep($step['hang']);
    http_response_code(200);
    exit;
}
$status = $step['status'] ?? 200;
record($dir, $entry + ['status' => $status]);
if (isset($step['retry_after'])) {
    header('Retry-After: ' . $step['retry_after']);
}
http_response_code($status);
echo json_encode(['received' => $id]);
