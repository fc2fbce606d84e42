"""Classic Elastic Load Balancing for LocalStack's open edition.

LocalStack ships no `elb` provider outside its paid edition, but moto implements the classic ELB API and
keeps its load balancers in the same backend as EC2, so subnets and security groups are the real ones.
This provider routes every operation of botocore's `elb` service model straight to that moto backend.
"""

from localstack.aws.skeleton import Skeleton
from localstack.aws.spec import load_service
from localstack.services.moto import call_moto
from localstack.services.plugins import Service, aws_provider


def _to_moto(context, _request):
    return call_moto(context)


@aws_provider()
def elb():
    model = load_service("elb")
    dispatch_table = {operation: _to_moto for operation in model.operation_names}
    return Service("elb", skeleton=Skeleton(model, dispatch_table))
