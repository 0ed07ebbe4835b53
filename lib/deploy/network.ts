/**
 * Where the instance goes when VPC_ID / SUBNET_ID are not set: the region's default VPC and one
 * of its default subnets in an availability zone that offers the instance type.
 */
import {
  DescribeInstanceTypeOfferingsCommand, DescribeSubnetsCommand, DescribeVpcsCommand,
  type EC2Client, type Subnet,
} from '@aws-sdk/client-ec2';
import { FatalError } from '../cli/errors.ts';
import type { NetworkChoice } from './template.ts';

/** The warning for a subnet that is not a default one: its internet route may be a NAT gateway. */
export const NAT_WARNING = (subnetId: string) => `warning: ${subnetId} is not a default subnet: if it reaches the internet through a NAT gateway, every byte read and uploaded pays NAT processing (about $0.045 per GB); a gateway VPC endpoint for S3 avoids that`;

export async function findNetwork(ec2: EC2Client, wanted: NetworkChoice & { instanceType: string }, print: (line: string) => void = () => {}): Promise<Required<NetworkChoice>> {
  if (wanted.subnetId) {
    const res = await ec2.send(new DescribeSubnetsCommand({ SubnetIds: [wanted.subnetId] }));
    const subnet = res.Subnets?.[0];
    if (!subnet?.VpcId) throw new FatalError(`subnet ${wanted.subnetId} not found in this region`);
    if (wanted.vpcId && wanted.vpcId !== subnet.VpcId) {
      throw new FatalError(`SUBNET_ID ${wanted.subnetId} is in ${subnet.VpcId}, not in VPC_ID ${wanted.vpcId}`);
    }
    if (!subnet.DefaultForAz) print(NAT_WARNING(wanted.subnetId));
    return { vpcId: subnet.VpcId, subnetId: wanted.subnetId };
  }

  let vpcId = wanted.vpcId;
  let isDefault = false;
  if (!vpcId) {
    const res = await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] }));
    vpcId = res.Vpcs?.[0]?.VpcId;
    if (!vpcId) throw new FatalError('this region has no default VPC: set VPC_ID and SUBNET_ID (a subnet with a route to the internet)');
    isDefault = true;
  }
  const filters = [{ Name: 'vpc-id', Values: [vpcId] }, { Name: 'state', Values: ['available'] }];
  if (isDefault) filters.push({ Name: 'default-for-az', Values: ['true'] });
  const subnets: Subnet[] = [];
  let next: string | undefined;
  do {
    const res = await ec2.send(new DescribeSubnetsCommand({ Filters: filters, NextToken: next }));
    subnets.push(...(res.Subnets ?? []));
    next = res.NextToken;
  } while (next);
  // Outside the default VPC, a subnet that gives public IPs is the best guess at internet access.
  const usable = isDefault ? subnets : subnets.filter((s) => s.MapPublicIpOnLaunch);
  if (usable.length === 0) {
    throw new FatalError(`no subnet of ${vpcId} gives instances a public IP: set SUBNET_ID to a subnet that reaches the internet (NAT) or has VPC endpoints for ssm, ssmmessages, ec2messages, s3 and logs`);
  }
  const offers = await ec2.send(new DescribeInstanceTypeOfferingsCommand({
    LocationType: 'availability-zone',
    Filters: [{ Name: 'instance-type', Values: [wanted.instanceType] }],
  }));
  const zones = new Set((offers.InstanceTypeOfferings ?? []).map((o) => o.Location));
  const offered = usable.filter((s) => zones.has(s.AvailabilityZone));
  if (offered.length === 0) {
    throw new FatalError(`${wanted.instanceType} is not offered in the availability zones of ${vpcId}'s subnets; choose another INSTANCE_TYPE or SUBNET_ID`);
  }
  offered.sort((a, b) => (a.AvailabilityZone ?? '').localeCompare(b.AvailabilityZone ?? '') || (a.SubnetId ?? '').localeCompare(b.SubnetId ?? ''));
  return { vpcId, subnetId: offered[0].SubnetId! };
}
