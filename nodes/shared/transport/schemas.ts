import { z } from 'zod';

/**
 * TikTok's response envelope and the `data` shapes we rely on. Unknown extra fields are kept (passthrough) so that
 * a TikTok addition never breaks us; missing fields we need fail validation and become a clear error.
 */
export const envelopeSchema = z
	.object({
		code: z.coerce.number(),
		message: z.string().optional().default(''),
		request_id: z.string().optional(),
		data: z.unknown().optional(),
	})
	.passthrough();

export type Envelope = z.infer<typeof envelopeSchema>;

const idString = z.union([z.string(), z.number()]).transform((value) => String(value));

export const userInfoSchema = z
	.object({
		display_name: z.string().optional(),
		email: z.string().optional(),
		core_user_id: idString.optional(),
	})
	.passthrough();

export const advertiserListSchema = z.object({
	list: z
		.array(z.object({ advertiser_id: idString, advertiser_name: z.string().optional().default('') }).passthrough())
		.default([]),
});

export const createAudienceSchema = z.object({ audience_id: idString }).passthrough();

const audienceSummarySchema = z
	.object({
		audience_id: idString,
		name: z.string().optional().default(''),
		audience_type: z.string().nullish(),
		cover_num: z.number().nullish(),
		is_valid: z.boolean().nullish(),
		is_expiring: z.boolean().nullish(),
		expired_time: z.string().nullish(),
		create_time: z.string().nullish(),
	})
	.passthrough();

export type AudienceSummary = z.infer<typeof audienceSummarySchema>;

export const audienceListSchema = z.object({
	page_info: z
		.object({
			page: z.number(),
			page_size: z.number().optional(),
			total_number: z.number().optional(),
			total_page: z.number(),
		})
		.passthrough(),
	list: z.array(audienceSummarySchema).default([]),
});

export type AudienceListPage = z.infer<typeof audienceListSchema>;

export const audienceDetailsSchema = z.object({
	list: z
		.array(
			z
				.object({
					audience_details: z
						.object({
							audience_id: idString,
							name: z.string().optional().default(''),
							type: z.string().nullish(),
							cover_num: z.number().nullish(),
							is_valid: z.boolean().nullish(),
							is_expiring: z.boolean().nullish(),
							expired_time: z.string().nullish(),
							create_time: z.string().nullish(),
						})
						.passthrough(),
				})
				.passthrough(),
		)
		.default([]),
});

export type AudienceDetails = z.infer<typeof audienceDetailsSchema>['list'][number]['audience_details'];
