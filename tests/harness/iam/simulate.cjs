// Evaluates requests against an identity policy with @cloud-copilot/iam-simulate, as IAM would.
// stdin: {"policy": <policy document>, "principal": ARN, "account": ID,
//         "requests": [{"name", "action", "resource", "context": {key: value or [values]}}]}
// stdout: [{"name", "decision": "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied" | "Error",
//           "ignoredContextKeys": [...], "errors": ...}], one per request, in order.
const { runSimulation } = require('@cloud-copilot/iam-simulate');

async function main() {
  const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
  const results = [];
  for (const request of input.requests) {
    const response = await runSimulation(
      {
        request: {
          principal: input.principal,
          action: request.action,
          resource: { resource: request.resource, accountId: input.account },
          contextVariables: request.context,
        },
        identityPolicies: [{ name: 'operator', policy: input.policy }],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
      },
      {},
    );
    if (response.resultType === 'single') {
      results.push({
        name: request.name,
        decision: response.overallResult,
        ignoredContextKeys: response.result.ignoredContextKeys ?? [],
      });
    } else {
      // A wildcard resource or invalid input: never what a test means to ask.
      results.push({ name: request.name, decision: 'Error', errors: response.errors ?? response.resultType });
    }
  }
  process.stdout.write(JSON.stringify(results));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
