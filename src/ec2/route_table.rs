//! Route tables.

use aws_sdk_ec2::types::RouteTable;

use super::described;

described! {
    RouteTable,
    operation: "DescribeRouteTables",
    request: describe_route_tables,
    ids: set_route_table_ids,
    filters: set_filters,
    answer: |o| o.route_tables,
    id: route_table_id,
    tags: tags,
    id_filter: "route-table-id",
}
