output "zone" {
  description = "The delegated Switchyard zone."
  value       = var.zone
}

output "nameservers" {
  description = "NS names published in the parent zone."
  value       = aws_route53_record.delegation.records
}

output "glue_records" {
  description = "Glue A records created in the parent zone: name => addresses."
  value       = { for name, r in aws_route53_record.glue : name => r.records }
}
