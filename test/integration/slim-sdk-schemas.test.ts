import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Metafile, type Plugin } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import functionPlugins, { slimSdkSchemas } from '../../build/esbuild-plugins.mjs';

/**
 * The functions' bundles are built with the plugins of `build/esbuild-plugins.mjs` (serverless.yml
 * `custom.esbuild.plugins`: the slim SDK schemas, environment-only credentials, semver's `gte`,
 * trimmed package.json files).
 * Here the EC2 client is built twice, as the functions build it, with and without those plugins,
 * and every EC2 command the adapters import is sent through both against one HTTP stub, signed
 * with the environment's credentials as in Lambda: the requests must be the same bytes (body,
 * user agent, credential scope and session token) and the parsed responses the same objects.
 */

const ADAPTERS = 'src/aws';
const EC2_SCHEMAS = 'node_modules/@aws-sdk/client-ec2/dist-es/schemas/schemas_0.js';
const EC2_VERSION = (
  JSON.parse(readFileSync('node_modules/@aws-sdk/client-ec2/package.json', 'utf8')) as { version: string }
).version;

/** Value imports of `…Command` from `@aws-sdk/client-ec2` in the adapters (type imports skipped). */
function ec2CommandsUsedByAdapters(): string[] {
  const used = new Set<string>();
  for (const file of readdirSync(ADAPTERS, { recursive: true, encoding: 'utf8' })) {
    if (!file.endsWith('.ts')) continue;
    const source = readFileSync(join(ADAPTERS, file), 'utf8');
    for (const [, names] of source.matchAll(/import\s*\{([^}]*)\}\s*from\s*'@aws-sdk\/client-ec2'/g)) {
      for (const name of names!.split(',').map((part) => part.trim())) {
        if (/^\w+Command$/.test(name)) used.add(name);
      }
    }
  }
  return [...used].sort();
}

const NS = 'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"';
const TAGS = '<tagSet><item><key>spot-handoff:managed</key><value>true</value></item></tagSet>';
const response = (action: string, body: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response ${NS}><requestId>req-1</requestId>${body}</${action}Response>`;
const INSTANCE = `<item><instanceId>i-0123456789abcdef0</instanceId><imageId>ami-1</imageId>
<instanceState><code>16</code><name>running</name></instanceState><instanceType>m5.large</instanceType>
<launchTime>2026-01-02T03:04:05.000Z</launchTime><placement><availabilityZone>us-east-1a</availabilityZone></placement>
<subnetId>subnet-1</subnetId><vpcId>vpc-1</vpcId><privateIpAddress>10.0.0.5</privateIpAddress>
<instanceLifecycle>spot</instanceLifecycle><groupSet><item><groupId>sg-1</groupId><groupName>web</groupName></item></groupSet>
<blockDeviceMapping><item><deviceName>/dev/xvdf</deviceName><ebs><volumeId>vol-1</volumeId><status>attached</status>
<attachTime>2026-01-02T03:04:06.000Z</attachTime><deleteOnTermination>false</deleteOnTermination></ebs></item></blockDeviceMapping>
<networkInterfaceSet><item><networkInterfaceId>eni-1</networkInterfaceId><attachment><attachmentId>eni-attach-1</attachmentId>
<deviceIndex>1</deviceIndex><status>attached</status><deleteOnTermination>false</deleteOnTermination></attachment>
<privateIpAddressesSet><item><privateIpAddress>10.0.0.6</privateIpAddress><primary>true</primary>
<association><publicIp>203.0.113.7</publicIp><ipOwnerId>123456789012</ipOwnerId></association></item></privateIpAddressesSet>
</item></networkInterfaceSet>${TAGS}</item>`;
const VOLUME = `<volumeId>vol-1</volumeId><size>20</size><availabilityZone>us-east-1a</availabilityZone><status>available</status>
<createTime>2026-01-02T03:04:05.000Z</createTime><volumeType>gp3</volumeType><iops>3000</iops><throughput>125</throughput>
<encrypted>true</encrypted><multiAttachEnabled>false</multiAttachEnabled><snapshotId>snap-1</snapshotId>`;
const ATTACHMENT = `<volumeId>vol-1</volumeId><instanceId>i-0123456789abcdef0</instanceId><device>/dev/xvdf</device>
<status>attaching</status><attachTime>2026-01-02T03:04:05.000Z</attachTime>`;
const INTERFACE = `<networkInterfaceId>eni-1</networkInterfaceId><subnetId>subnet-1</subnetId><availabilityZone>us-east-1a</availabilityZone>
<status>in-use</status><privateIpAddress>10.0.0.6</privateIpAddress><sourceDestCheck>true</sourceDestCheck>
<attachment><attachmentId>eni-attach-1</attachmentId><instanceId>i-0123456789abcdef0</instanceId><deviceIndex>1</deviceIndex>
<status>attached</status><deleteOnTermination>false</deleteOnTermination></attachment>
<privateIpAddressesSet><item><privateIpAddress>10.0.0.6</privateIpAddress><primary>true</primary></item>
<item><privateIpAddress>10.0.0.7</privateIpAddress><primary>false</primary></item></privateIpAddressesSet>${TAGS}`;

/** Per command: an input using the fields the adapters send, and the XML EC2 answers with. */
const CASES: Record<string, { input: Record<string, unknown>; xml: string }> = {
  AssignPrivateIpAddressesCommand: {
    input: {
      NetworkInterfaceId: 'eni-1',
      PrivateIpAddresses: ['10.0.0.7', '10.0.0.8'],
      AllowReassignment: true,
    },
    xml: response(
      'AssignPrivateIpAddresses',
      '<networkInterfaceId>eni-1</networkInterfaceId><assignedPrivateIpAddressesSet><item><privateIpAddress>10.0.0.7</privateIpAddress></item></assignedPrivateIpAddressesSet><return>true</return>',
    ),
  },
  AssociateAddressCommand: {
    input: {
      AllocationId: 'eipalloc-1',
      NetworkInterfaceId: 'eni-1',
      PrivateIpAddress: '10.0.0.6',
      AllowReassociation: true,
    },
    xml: response('AssociateAddress', '<return>true</return><associationId>eipassoc-1</associationId>'),
  },
  AttachNetworkInterfaceCommand: {
    input: { NetworkInterfaceId: 'eni-1', InstanceId: 'i-0123456789abcdef0', DeviceIndex: 1 },
    xml: response(
      'AttachNetworkInterface',
      '<attachmentId>eni-attach-2</attachmentId><networkCardIndex>0</networkCardIndex>',
    ),
  },
  AttachVolumeCommand: {
    input: { VolumeId: 'vol-1', InstanceId: 'i-0123456789abcdef0', Device: '/dev/xvdf' },
    xml: response('AttachVolume', ATTACHMENT),
  },
  CreateSnapshotCommand: {
    input: {
      VolumeId: 'vol-1',
      Description: 'handoff of vol-1 & co',
      TagSpecifications: [
        { ResourceType: 'snapshot', Tags: [{ Key: 'spot-handoff:workflow', Value: 'wf 1' }] },
      ],
    },
    xml: response(
      'CreateSnapshot',
      `<snapshotId>snap-1</snapshotId><volumeId>vol-1</volumeId><status>pending</status><startTime>2026-01-02T03:04:05.000Z</startTime><progress/><volumeSize>20</volumeSize><encrypted>true</encrypted>${TAGS}`,
    ),
  },
  CreateTagsCommand: {
    input: {
      Resources: ['i-0123456789abcdef0', 'vol-1'],
      Tags: [
        { Key: 'a', Value: 'b=c' },
        { Key: 'd', Value: '' },
      ],
    },
    xml: response('CreateTags', '<return>true</return>'),
  },
  CreateVolumeCommand: {
    input: {
      AvailabilityZone: 'us-east-1b',
      SnapshotId: 'snap-1',
      VolumeType: 'gp3',
      Iops: 3000,
      Throughput: 125,
      Encrypted: true,
      ClientToken: 'token-1',
      TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: 'k', Value: 'v' }] }],
    },
    xml: response('CreateVolume', `${VOLUME}${TAGS}`),
  },
  DescribeAddressesCommand: {
    input: { Filters: [{ Name: 'instance-id', Values: ['i-0123456789abcdef0', 'i-0123456789abcdef1'] }] },
    xml: response(
      'DescribeAddresses',
      '<addressesSet><item><publicIp>203.0.113.7</publicIp><allocationId>eipalloc-1</allocationId><associationId>eipassoc-1</associationId><domain>vpc</domain><instanceId>i-0123456789abcdef0</instanceId><networkInterfaceId>eni-1</networkInterfaceId><privateIpAddress>10.0.0.6</privateIpAddress></item></addressesSet>',
    ),
  },
  DescribeInstancesCommand: {
    input: {
      Filters: [
        { Name: 'instance-id', Values: ['i-0123456789abcdef0'] },
        { Name: 'tag:spot-handoff:managed', Values: ['true'] },
      ],
      MaxResults: 1000,
      NextToken: 'page 2',
    },
    xml: response(
      'DescribeInstances',
      `<reservationSet><item><reservationId>r-1</reservationId><ownerId>123456789012</ownerId><instancesSet>${INSTANCE}</instancesSet></item></reservationSet><nextToken>page 3</nextToken>`,
    ),
  },
  DescribeNetworkInterfacesCommand: {
    input: {
      NetworkInterfaceIds: ['eni-1', 'eni-2'],
      Filters: [{ Name: 'attachment.instance-id', Values: ['i-1'] }],
    },
    xml: response(
      'DescribeNetworkInterfaces',
      `<networkInterfaceSet><item>${INTERFACE}</item></networkInterfaceSet>`,
    ),
  },
  DescribeSnapshotsCommand: {
    input: {
      SnapshotIds: ['snap-1'],
      OwnerIds: ['self'],
      Filters: [{ Name: 'tag:spot-handoff:workflow', Values: ['wf'] }],
    },
    xml: response(
      'DescribeSnapshots',
      `<snapshotSet><item><snapshotId>snap-1</snapshotId><volumeId>vol-1</volumeId><status>completed</status><progress>100%</progress><startTime>2026-01-02T03:04:05.000Z</startTime>${TAGS}</item></snapshotSet>`,
    ),
  },
  DescribeSubnetsCommand: {
    input: { SubnetIds: ['subnet-1', 'subnet-2'] },
    xml: response(
      'DescribeSubnets',
      '<subnetSet><item><subnetId>subnet-1</subnetId><availabilityZone>us-east-1a</availabilityZone><availabilityZoneId>use1-az1</availabilityZoneId><vpcId>vpc-1</vpcId><cidrBlock>10.0.0.0/24</cidrBlock><availableIpAddressCount>250</availableIpAddressCount><defaultForAz>false</defaultForAz></item></subnetSet>',
    ),
  },
  DescribeVolumesCommand: {
    input: {
      VolumeIds: ['vol-1'],
      Filters: [{ Name: 'attachment.instance-id', Values: ['i-0123456789abcdef0'] }],
    },
    xml: response(
      'DescribeVolumes',
      `<volumeSet><item>${VOLUME}<attachmentSet><item>${ATTACHMENT}<deleteOnTermination>false</deleteOnTermination></item></attachmentSet>${TAGS}</item></volumeSet>`,
    ),
  },
  DetachNetworkInterfaceCommand: {
    input: { AttachmentId: 'eni-attach-1', Force: false },
    xml: response('DetachNetworkInterface', '<return>true</return>'),
  },
  DetachVolumeCommand: {
    input: { VolumeId: 'vol-1', InstanceId: 'i-0123456789abcdef0', Force: false },
    xml: response('DetachVolume', ATTACHMENT.replace('attaching', 'detaching')),
  },
  ModifyInstanceAttributeCommand: {
    input: {
      InstanceId: 'i-0123456789abcdef0',
      BlockDeviceMappings: [
        { DeviceName: '/dev/xvdf', Ebs: { VolumeId: 'vol-1', DeleteOnTermination: false } },
      ],
    },
    xml: response('ModifyInstanceAttribute', '<return>true</return>'),
  },
  ModifyNetworkInterfaceAttributeCommand: {
    input: {
      NetworkInterfaceId: 'eni-1',
      Attachment: { AttachmentId: 'eni-attach-1', DeleteOnTermination: false },
    },
    xml: response('ModifyNetworkInterfaceAttribute', '<return>true</return>'),
  },
  CreateFleetCommand: {
    input: {
      Type: 'instant',
      ClientToken: 'fleet-1-first',
      LaunchTemplateConfigs: [
        {
          LaunchTemplateSpecification: { LaunchTemplateId: 'lt-1', Version: '3' },
          Overrides: [
            { InstanceType: 'm5.large', SubnetId: 'subnet-1', AvailabilityZone: 'us-east-1a', Priority: 0 },
            { InstanceType: 'c5.large', SubnetId: 'subnet-2', AvailabilityZone: 'us-east-1b', Priority: 1 },
          ],
        },
      ],
      TargetCapacitySpecification: {
        TotalTargetCapacity: 2,
        OnDemandTargetCapacity: 1,
        SpotTargetCapacity: 1,
        DefaultTargetCapacityType: 'spot',
      },
      SpotOptions: { AllocationStrategy: 'price-capacity-optimized' },
      OnDemandOptions: { AllocationStrategy: 'prioritized' },
      TagSpecifications: [
        { ResourceType: 'instance', Tags: [{ Key: 'spot-handoff:managed', Value: 'true' }] },
      ],
    },
    xml: response(
      'CreateFleet',
      `<fleetId>fleet-1</fleetId><errorSet><item><launchTemplateAndOverrides><launchTemplateSpecification><launchTemplateId>lt-1</launchTemplateId><version>3</version></launchTemplateSpecification><overrides><instanceType>c5.large</instanceType><subnetId>subnet-2</subnetId></overrides></launchTemplateAndOverrides><lifecycle>spot</lifecycle><errorCode>InsufficientInstanceCapacity</errorCode><errorMessage>There is no Spot capacity available that matches your request.</errorMessage></item></errorSet><fleetInstanceSet><item><launchTemplateAndOverrides><launchTemplateSpecification><launchTemplateId>lt-1</launchTemplateId><version>3</version></launchTemplateSpecification><overrides><instanceType>m5.large</instanceType><subnetId>subnet-1</subnetId><availabilityZone>us-east-1a</availabilityZone><priority>0</priority></overrides></launchTemplateAndOverrides><lifecycle>on-demand</lifecycle><instanceIds><item>i-0123456789abcdef0</item></instanceIds><instanceType>m5.large</instanceType></item></fleetInstanceSet>`,
    ),
  },
  DescribeAvailabilityZonesCommand: {
    input: { Filters: [{ Name: 'region-name', Values: ['us-east-1'] }] },
    xml: response(
      'DescribeAvailabilityZones',
      '<availabilityZoneInfo><item><zoneName>us-east-1a</zoneName><zoneId>use1-az1</zoneId><zoneState>available</zoneState><regionName>us-east-1</regionName></item></availabilityZoneInfo>',
    ),
  },
  DescribeReservedInstancesCommand: {
    input: { Filters: [{ Name: 'state', Values: ['active'] }] },
    xml: response(
      'DescribeReservedInstances',
      '<reservedInstancesSet><item><reservedInstancesId>ri-1</reservedInstancesId><instanceType>m5.large</instanceType><availabilityZone>us-east-1a</availabilityZone><instanceCount>2</instanceCount><state>active</state><scope>Availability Zone</scope></item></reservedInstancesSet>',
    ),
  },
  DescribeSpotPriceHistoryCommand: {
    input: {
      InstanceTypes: ['m5.large'],
      ProductDescriptions: ['Linux/UNIX'],
      StartTime: new Date('2026-01-01T12:00:00Z'),
    },
    xml: response(
      'DescribeSpotPriceHistory',
      '<spotPriceHistorySet><item><instanceType>m5.large</instanceType><productDescription>Linux/UNIX</productDescription><spotPrice>0.040000</spotPrice><timestamp>2026-01-01T12:00:00.000Z</timestamp><availabilityZone>us-east-1a</availabilityZone></item></spotPriceHistorySet><nextToken></nextToken>',
    ),
  },
  GetInstanceTypesFromInstanceRequirementsCommand: {
    input: {
      ArchitectureTypes: ['x86_64'],
      VirtualizationTypes: ['hvm'],
      InstanceRequirements: {
        VCpuCount: { Min: 2, Max: 4 },
        MemoryMiB: { Min: 8192 },
        ExcludedInstanceTypes: ['m6i.*', 'c6*.*'],
      },
      NextToken: 'page-2',
    },
    xml: response(
      'GetInstanceTypesFromInstanceRequirements',
      '<instanceTypeSet><item><instanceType>m5.large</instanceType></item><item><instanceType>r5.large</instanceType></item></instanceTypeSet><nextToken>page-3</nextToken>',
    ),
  },
  GetSpotPlacementScoresCommand: {
    input: {
      InstanceTypes: ['m5.large', 'c5.large'],
      TargetCapacity: 1,
      SingleAvailabilityZone: true,
      RegionNames: ['us-east-1'],
    },
    xml: response(
      'GetSpotPlacementScores',
      '<spotPlacementScoreSet><item><region>us-east-1</region><availabilityZoneId>use1-az1</availabilityZoneId><score>9</score></item></spotPlacementScoreSet>',
    ),
  },
  TerminateInstancesCommand: {
    input: { InstanceIds: ['i-0123456789abcdef0'] },
    xml: response(
      'TerminateInstances',
      '<instancesSet><item><instanceId>i-0123456789abcdef0</instanceId><currentState><code>32</code><name>shutting-down</name></currentState><previousState><code>16</code><name>running</name></previousState></item></instancesSet>',
    ),
  },
  RunInstancesCommand: {
    input: {
      MinCount: 1,
      MaxCount: 1,
      ClientToken: 'wf-1',
      DryRun: false,
      LaunchTemplate: { LaunchTemplateId: 'lt-1', Version: '3' },
      InstanceType: 'm5.large',
      SubnetId: 'subnet-1',
      Placement: { AvailabilityZone: 'us-east-1a' },
      InstanceMarketOptions: { MarketType: 'spot', SpotOptions: { SpotInstanceType: 'one-time' } },
      NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: 'subnet-1', Groups: ['sg-1'] }],
      TagSpecifications: [
        { ResourceType: 'instance', Tags: [{ Key: 'spot-handoff:managed', Value: 'true' }] },
        { ResourceType: 'volume', Tags: [{ Key: 'spot-handoff:workflow', Value: 'wf-1' }] },
      ],
    },
    xml: response(
      'RunInstances',
      `<reservationId>r-2</reservationId><ownerId>123456789012</ownerId><groupSet/><instancesSet>${INSTANCE}</instancesSet>`,
    ),
  },
};

interface RecordedRequest {
  method: string;
  path: string;
  contentType: string | undefined;
  userAgent: string | undefined;
  /** The Authorization header up to its signature: access key, date, Region, service, signed headers. */
  credentialScope: string | undefined;
  securityToken: string | undefined;
  body: string;
}

/** The headers that carry meaning; the others (time, signature, invocation id) vary per call. */
const record = async (request: IncomingMessage): Promise<RecordedRequest> => {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return {
    method: request.method ?? '',
    path: request.url ?? '',
    contentType: request.headers['content-type'],
    userAgent: request.headers['user-agent'],
    credentialScope: request.headers.authorization?.replace(/, Signature=[0-9a-f]+$/, ''),
    securityToken: request.headers['x-amz-security-token'] as string | undefined,
    body: Buffer.concat(chunks).toString('utf8'),
  };
};

interface Ec2Module {
  EC2Client: new (
    config: Record<string, unknown>,
  ) => {
    send(command: unknown): Promise<Record<string, unknown>>;
    destroy(): void;
  };
  [command: string]: unknown;
}

interface Built {
  module: Ec2Module;
  metafile: Metafile;
}

const directory = mkdtempSync(join(tmpdir(), 'slim-sdk-schemas-'));
const commands = ec2CommandsUsedByAdapters();

async function buildEc2(name: string, plugins: Plugin[]): Promise<Built> {
  const outfile = join(directory, `${name}.mjs`);
  const result = await build({
    stdin: {
      contents: `export { EC2Client, ${commands.join(', ')} } from '@aws-sdk/client-ec2';`,
      resolveDir: process.cwd(),
      loader: 'ts',
    },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    mainFields: ['module', 'main'],
    outfile,
    metafile: true,
    logLevel: 'silent',
    plugins,
  });
  return { module: (await import(pathToFileURL(outfile).href)) as Ec2Module, metafile: result.metafile };
}

const bundledBytes = (metafile: Metafile, matches: (path: string) => boolean) =>
  Object.values(metafile.outputs)
    .flatMap((output) => Object.entries(output.inputs))
    .filter(([path]) => matches(path))
    .reduce((sum, [, input]) => sum + input.bytesInOutput, 0);
const schemaBytes = (metafile: Metafile) =>
  bundledBytes(metafile, (path) => path.endsWith('client-ec2/dist-es/schemas/schemas_0.js'));

/** Lambda's: the function role's credentials in the environment, and no profile. */
const LAMBDA_CREDENTIALS = {
  AWS_ACCESS_KEY_ID: 'ASIAEXAMPLEKEY',
  AWS_SECRET_ACCESS_KEY: 'secret',
  AWS_SESSION_TOKEN: 'session-token',
};
const savedEnv = { ...process.env };

let server: Server;
let endpoint: string;
let full: Built;
let slim: Built;
let requests: RecordedRequest[] = [];

beforeAll(async () => {
  delete process.env['AWS_PROFILE'];
  Object.assign(process.env, LAMBDA_CREDENTIALS);
  server = createServer(async (request, reply) => {
    const recorded = await record(request);
    requests.push(recorded);
    const action = new URLSearchParams(recorded.body).get('Action') ?? '';
    const found = CASES[`${action}Command`];
    reply.writeHead(found ? 200 : 400, { 'content-type': 'text/xml;charset=UTF-8' });
    reply.end(
      found?.xml ??
        response('Error', `<Errors><Error><Code>Unknown</Code><Message>${action}</Message></Error></Errors>`),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  [full, slim] = await Promise.all([buildEc2('full', []), buildEc2('slim', functionPlugins)]);
}, 120_000);

afterAll(async () => {
  process.env = savedEnv;
  await new Promise((resolve) => server.close(resolve));
  rmSync(directory, { recursive: true, force: true });
});

/** One command through a client built as a function builds it: credentials from the SDK's default. */
async function exchange(built: Built, command: string) {
  const client = new built.module.EC2Client({ endpoint, region: 'us-east-1', maxAttempts: 1 });
  const Command = built.module[command] as new (input: unknown) => unknown;
  requests = [];
  try {
    const output = await client.send(new Command(CASES[command]!.input));
    return { requests, output };
  } finally {
    client.destroy();
  }
}

describe("EC2 client built with the functions' esbuild plugins", () => {
  it('has an input and a response here for every EC2 command the adapters use', () => {
    const missing = commands.filter((command) => !(command in CASES));
    expect(missing, `add an input and a response for ${missing.join(', ')} to CASES in this test`).toEqual(
      [],
    );
    expect(commands).toContain('RunInstancesCommand');
  });

  it('keeps only a small part of the EC2 API model', () => {
    expect(schemaBytes(full.metafile)).toBeGreaterThan(500_000);
    expect(schemaBytes(slim.metafile)).toBeLessThan(schemaBytes(full.metafile) / 5);
  });

  it.each(commands)('%s: same request on the wire and same parsed response', async (command) => {
    const viaFull = await exchange(full, command);
    const viaSlim = await exchange(slim, command);

    expect(viaSlim.requests).toEqual(viaFull.requests);
    expect(viaFull.requests).toHaveLength(1);
    // Signed with the environment's credentials, as the SDK's whole default chain signs in Lambda.
    expect(viaFull.requests[0]!.credentialScope).toMatch(/^AWS4-HMAC-SHA256 Credential=ASIAEXAMPLEKEY\//);
    expect(viaFull.requests[0]!.securityToken).toBe('session-token');
    // The client's version in the user agent, from its package.json (trimmed to name and version).
    expect(viaFull.requests[0]!.userAgent).toContain(`api/ec2#${EC2_VERSION}`);
    // The input's fields were serialized (a shape dropped by mistake would send none of them).
    const params = new URLSearchParams(viaFull.requests[0]!.body);
    expect(params.get('Action')).toBe(command.replace(/Command$/, ''));
    expect([...params.keys()].length).toBeGreaterThan(2);
    expect(viaSlim.output).toEqual(viaFull.output);
  });

  it("keeps only the environment's link of the default credential chain", () => {
    const chainLinks = (path: string) =>
      /@aws-sdk\/(credential-provider-(sso|ini|process|web-identity|http|login)|nested-clients|token-providers)\//.test(
        path,
      ) || path.includes('@smithy/credential-provider-imds/');

    expect(bundledBytes(full.metafile, chainLinks)).toBeGreaterThan(50_000);
    expect(bundledBytes(slim.metafile, chainLinks)).toBe(0);
    expect(bundledBytes(slim.metafile, (path) => path.includes('credential-provider-env/'))).toBeGreaterThan(
      0,
    );
  });

  it('fails a call without credentials in the environment, saying where they are read from', async () => {
    const credentials = { ...process.env };
    for (const key of Object.keys(LAMBDA_CREDENTIALS)) delete process.env[key];
    try {
      await expect(exchange(slim, 'DescribeInstancesCommand')).rejects.toThrow(
        /No AWS credentials in the environment.*AWS_ACCESS_KEY_ID/,
      );
    } finally {
      process.env = credentials;
    }
  });

  it('parses nested responses through the kept shapes', async () => {
    const { output } = await exchange(slim, 'DescribeInstancesCommand');

    expect(output).toMatchObject({
      NextToken: 'page 3',
      Reservations: [
        {
          Instances: [
            {
              InstanceId: 'i-0123456789abcdef0',
              LaunchTime: new Date('2026-01-02T03:04:05.000Z'),
              BlockDeviceMappings: [
                { DeviceName: '/dev/xvdf', Ebs: { VolumeId: 'vol-1', DeleteOnTermination: false } },
              ],
              NetworkInterfaces: [{ PrivateIpAddresses: [{ Association: { PublicIp: '203.0.113.7' } }] }],
              Tags: [{ Key: 'spot-handoff:managed', Value: 'true' }],
            },
          ],
        },
      ],
    });
  });
});

describe('literal schema keys', () => {
  it('build the same EC2 shapes as the published module', async () => {
    const exported = async (name: string, plugins: Plugin[]) => {
      const outfile = join(directory, `${name}.mjs`);
      await build({
        entryPoints: [EC2_SCHEMAS],
        bundle: true,
        format: 'esm',
        platform: 'node',
        outfile,
        logLevel: 'silent',
        plugins,
      });
      const module = (await import(pathToFileURL(outfile).href)) as Record<string, unknown>;
      // Thunks (`() => Shape$`) compare by their source text; everything else by value.
      return JSON.stringify(module, (_key, value: unknown) =>
        typeof value === 'function' ? `fn:${String(value)}` : value,
      );
    };
    const published = await exported('schemas-full', []);
    const rewritten = await exported('schemas-slim', [slimSdkSchemas()]);

    expect(rewritten).toBe(published);
    expect(published).toContain('"DescribeInstances$"');
  });
});
